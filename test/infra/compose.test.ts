/**
 * docker-compose.yml cannot run here (no Docker engine), so this checks what can go wrong
 * silently: a Tollgate service setting a variable the config does not know (typo = ignored
 * setting), a value the config would reject, a depends_on/volume/config pointing nowhere, a URL
 * naming a host that is not a compose service, a role without a service — and what went wrong
 * before (issue 17): working secrets in the file, databases published on every interface,
 * ClickHouse users open to ::/0 with a profile that could run DDL.
 *
 * The secrets come from a real run of scripts/compose-secrets.mjs into a temporary file, then
 * are interpolated into the values the way compose does (`${NAME}`, `${NAME:?message}`, `$$`).
 */
// engine-matrix: server only — static checks of docker-compose.yml and its ClickHouse server config; no engine answers a query here
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { KNOWN_PLACEHOLDER_SECRETS, knownVariables, loadConfig } from '../../src/config/index.js';
import { composeUsersXml, interpolateValues, parseDotEnv } from './compose-env.js';

const root = path.resolve(import.meta.dirname, '../..');
const rawText = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const secretsDir = mkdtempSync(path.join(tmpdir(), 'tollgate-compose-'));
const secretsFile = path.join(secretsDir, '.env');
execFileSync(process.execPath, [path.join(root, 'scripts/compose-secrets.mjs'), '--out', secretsFile], { stdio: 'ignore' });
const secrets = parseDotEnv(readFileSync(secretsFile, 'utf8'));
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { source?: string })[];
  configs?: (string | { source: string })[];
  ports?: string[];
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, unknown>;
}

const raw = parse(rawText, { merge: true }) as Compose;
const compose = interpolateValues(raw, secrets);
const services = Object.entries(compose.services);
const isTollgate = (s: Service) => s.build !== undefined || s.image?.startsWith('tollgate') === true;
const tollgate = services.filter(([, s]) => isTollgate(s));

function envOf(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe('docker-compose.yml', () => {
  it('has the stores and one Tollgate service per role, all built from the repo Dockerfile', () => {
    const names = Object.keys(compose.services);
    expect(names).toEqual(expect.arrayContaining(['clickhouse', 'postgres', 'redis', 'grafana', 'migrate', 'inference', 'api', 'worker', 'otlp']));
    expect(compose.services.clickhouse!.image).toMatch(/^clickhouse\/clickhouse-server:/);
    expect(compose.services.postgres!.image).toBe('postgres:16');
    expect(compose.services.redis!.image).toBe('redis:7');
    expect(compose.services.grafana!.image).toMatch(/^grafana\/grafana:/);
    for (const role of ['inference', 'api', 'worker', 'otlp']) {
      expect(compose.services[role]!.command).toEqual(['serve', '--roles', role]);
    }
    expect(compose.services.migrate!.command).toEqual(['migrate']);
    expect(tollgate.map(([n]) => n).sort()).toEqual(['api', 'inference', 'migrate', 'otlp', 'worker']);
    for (const [, s] of tollgate) expect(s.build).toBe('.');
    expect(existsSync(path.join(root, 'Dockerfile'))).toBe(true);
  });

  it('sets only variables src/config knows, with values it accepts', () => {
    for (const [name, s] of tollgate) {
      const env = envOf(s);
      expect(Object.keys(env).length, name).toBeGreaterThan(0);
      const unknown = Object.keys(env).filter((k) => !knownVariables.includes(k));
      expect(unknown, `${name} sets unknown variables`).toEqual([]);
      expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('points every URL of a Tollgate service at a compose service, on that service’s port', () => {
    const names = new Set(Object.keys(compose.services));
    const expectedPort: Record<string, string> = { postgres: '5432', clickhouse: '8123', redis: '6379', otlp: '4318' };
    for (const [name, s] of tollgate) {
      const urls = Object.entries(envOf(s)).filter(([, v]) => /^[a-z]+:\/\//.test(v));
      expect(urls.map(([k]) => k)).toEqual(expect.arrayContaining(['DATABASE_URL', 'CLICKHOUSE_URL', 'REDIS_URL']));
      for (const [key, value] of urls) {
        const url = new URL(value);
        expect(names.has(url.hostname), `${name}.${key} -> ${url.hostname}`).toBe(true);
        if (expectedPort[url.hostname]) expect(url.port, `${name}.${key}`).toBe(expectedPort[url.hostname]);
      }
      const config = loadConfig(envOf(s));
      expect(new URL(config.DATABASE_URL).hostname).toBe('postgres');
      expect(new URL(config.CLICKHOUSE_URL).hostname).toBe('clickhouse');
      expect(new URL(config.REDIS_URL).hostname).toBe('redis');
    }
  });

  it('publishes each role on the port its config listens on', () => {
    const portOf = (role: string) => {
      const c = loadConfig(envOf(compose.services[role]!));
      return { inference: c.TOLLGATE_INFERENCE_PORT, api: c.TOLLGATE_API_PORT, otlp: c.TOLLGATE_OTLP_PORT }[role];
    };
    for (const role of ['inference', 'api', 'otlp']) {
      const published = (compose.services[role]!.ports ?? []).map((p) => p.split(':').at(-1));
      expect(published, role).toContain(String(portOf(role)));
      expect(loadConfig(envOf(compose.services[role]!)).TOLLGATE_HOST, role).toBe('0.0.0.0');
    }
  });

  it('references only services, volumes, configs and folders that exist', () => {
    const names = new Set(Object.keys(compose.services));
    for (const [name, s] of services) {
      for (const dep of dependsOn(s)) expect(names.has(dep), `${name} depends on ${dep}`).toBe(true);
      expect(dependsOn(s)).not.toContain(name);
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : (v.source ?? '');
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(path.join(root, source)), `${name} mounts ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name} uses volume ${source}`).toContain(source);
      }
      for (const c of s.configs ?? []) expect(Object.keys(compose.configs ?? {})).toContain(typeof c === 'string' ? c : c.source);
    }
    // Every role waits for the migrations; migrations wait for both databases.
    for (const role of ['inference', 'api', 'worker', 'otlp']) expect(dependsOn(compose.services[role]!)).toContain('migrate');
    expect(dependsOn(compose.services.migrate!).sort()).toEqual(['clickhouse', 'postgres']);
  });

  it('gives Grafana the ClickHouse settings its provisioning file reads, as a read-only user', () => {
    const provisioning = readFileSync(path.join(root, 'grafana/provisioning/datasources/clickhouse.yaml'), 'utf8');
    const wanted = [...provisioning.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(wanted.length).toBeGreaterThan(0);
    const env = envOf(compose.services.grafana!);
    for (const key of wanted) expect(Object.keys(env), key).toContain(key);
    expect(env.TOLLGATE_GRAFANA_CLICKHOUSE_HOST).toBe('clickhouse');
    const users = String((compose.configs?.['clickhouse-users'] as { content?: string } | undefined)?.content ?? '');
    const usersBlock = /<users>([\s\S]*?)<\/users>/.exec(users)?.[1] ?? '';
    const grafanaUser = new RegExp(`<${env.TOLLGATE_GRAFANA_CLICKHOUSE_USER}>[\\s\\S]*?<profile>(\\w+)</profile>`).exec(usersBlock);
    expect(grafanaUser, 'grafana user defined in clickhouse-users').not.toBeNull();
    expect(users).toMatch(new RegExp(`<${grafanaUser![1]}>[^\\n]*<readonly>[12]</readonly>`));
  });
});

/** Keys whose values are credentials; a URL with a password counts too. */
const SECRET_KEY = /SECRET|TOKEN|PASSWORD/;
const DATABASES = ['postgres', 'clickhouse', 'redis'];

describe('docker-compose.yml holds no secret and exposes no database', () => {
  it('no literal secret: every credential is a ${NAME:?...} reference that compose refuses to start without', () => {
    for (const [name, s] of Object.entries(raw.services)) {
      for (const [key, value] of Object.entries(envOf(s))) {
        const urlPassword = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/.exec(value)?.[1];
        if (!SECRET_KEY.test(key) && urlPassword === undefined) continue;
        const secret = urlPassword ?? value;
        expect(secret, `${name}.${key}`).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
      }
    }
    const users = String((raw.configs?.['clickhouse-users'] as { content?: string } | undefined)?.content ?? '');
    expect(users).not.toMatch(/<password>/);
    for (const m of users.matchAll(/<password_sha256_hex>([^<]*)<\/password_sha256_hex>/g)) expect(m[1]).toMatch(/^\$\{[A-Z0-9_]+_SHA256:\?[^}]+\}$/);
    // Nothing anyone has seen in a repository, in any form.
    for (const p of [...KNOWN_PLACEHOLDER_SECRETS.filter((v) => v.length >= 12), 'POSTGRES_PASSWORD: tollgate', 'CLICKHOUSE_PASSWORD: tollgate', 'GF_SECURITY_ADMIN_PASSWORD: tollgate', '<password>']) {
      expect(rawText.toLowerCase(), p).not.toContain(p.toLowerCase());
    }
  });

  it('the generated secrets are random, private to their owner, and make every service a valid production config', () => {
    expect(statSync(secretsFile).mode & 0o077).toBe(0);
    const referenced = new Set([...JSON.stringify(raw).matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
    expect([...referenced].filter((k) => !secrets.has(k))).toEqual([]);
    const values = [...secrets.entries()].filter(([k]) => !k.endsWith('_SHA256')).map(([, v]) => v);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(Buffer.from(v, 'base64url')).toHaveLength(32);
    for (const [name, s] of tollgate) {
      const config = loadConfig(envOf(s));
      expect(config.NODE_ENV, name).toBe('production');
      expect(config.JWT_SECRET, name).toBe(secrets.get('JWT_SECRET'));
      expect(config.OTLP_INTERNAL_RECEIVERS, name).toEqual(['http://otlp:4318']);
    }
    // Re-running keeps every value (a second `up` must not lock the stack out of its own databases).
    execFileSync(process.execPath, [path.join(root, 'scripts/compose-secrets.mjs'), '--out', secretsFile], { stdio: 'ignore' });
    expect(parseDotEnv(readFileSync(secretsFile, 'utf8'))).toEqual(secrets);
    // And the file never reaches git or the image.
    for (const ignore of ['.gitignore', '.dockerignore']) expect(readFileSync(path.join(root, ignore), 'utf8').split('\n'), ignore).toContain('.env');
  });

  it('publishes database ports on 127.0.0.1 only', () => {
    for (const db of DATABASES) {
      for (const p of compose.services[db]!.ports ?? []) expect(p, db).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it('ClickHouse users: private networks only (address/netmask form), app profile without DDL, migration user only for migrate and worker', () => {
    const users = composeUsersXml(compose);
    expect(users).not.toContain('::/0');
    const usersBlock = /<users>([\s\S]*?)<\/users>/.exec(users)![1]!;
    const private4 = /^(10\.0\.0\.0\/255\.0\.0\.0|172\.16\.0\.0\/255\.240\.0\.0|192\.168\.0\.0\/255\.255\.0\.0)$/;
    for (const user of ['tollgate', 'tollgate_migrate', 'grafana']) {
      const block = new RegExp(`<${user}>([\\s\\S]*?)</${user}>`).exec(usersBlock)?.[1];
      expect(block, user).toBeDefined();
      const ips = [...block!.matchAll(/<ip>([^<]+)<\/ip>/g)].map((m) => m[1]!);
      expect(ips.length, user).toBeGreaterThan(0);
      for (const ip of ips) expect(ip, `${user} network`).toMatch(private4);
      expect(block, user).not.toMatch(/<host|<host_regexp/);
    }
    // The image's own default user stays on the container's loopback.
    expect(/<default>\s*<networks replace="replace">((?:<ip>[^<]+<\/ip>)+)<\/networks>/.exec(usersBlock)?.[1]).toBe('<ip>::1</ip><ip>127.0.0.1</ip>');
    const appProfile = /<tollgate>[\s\S]*?<profile>(\w+)<\/profile>/.exec(usersBlock)![1]!;
    expect(users).toMatch(new RegExp(`<${appProfile}>[^\n]*<allow_ddl>0</allow_ddl>`));
    const userOf = (svc: string) => envOf(compose.services[svc]!).CLICKHOUSE_USER;
    for (const role of ['inference', 'api', 'otlp']) expect(userOf(role), role).toBe('tollgate');
    for (const svc of ['migrate', 'worker']) expect(userOf(svc), svc).toBe('tollgate_migrate');
  });
});
