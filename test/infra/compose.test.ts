/**
 * docker-compose.yml cannot run here (no Docker engine), so this checks what can go wrong
 * silently: a Tollgate service setting a variable the config does not know (typo = ignored
 * setting), a value the config would reject, a depends_on/volume/config pointing nowhere, a URL
 * naming a host that is not a compose service, a role without a service.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { knownVariables, loadConfig } from '../../src/config/index.js';

const root = path.resolve(import.meta.dirname, '../..');

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

const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
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
    expect(users).toMatch(new RegExp(`<${grafanaUser![1]}><readonly>[12]</readonly>`));
  });
});
