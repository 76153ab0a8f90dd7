/**
 * The `tollgate` command line: migrations, tenants, API keys, and `serve`. Each command builds
 * the few dependencies it needs, does one thing, and closes them so the process exits.
 * `--json` prints exactly one JSON object on stdout. Expected failures print `error: <message>`
 * and exit 1 without a stack trace.
 */
import { userInfo } from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../src/config/index.js';
import { createPgPools, type PgPools, migratePostgres, MigrationError } from '../../src/db/index.js';
import { isAppError, createRedis } from '../../src/shared/index.js';
import { createTenant, listTenants, setTenantPlan, setTenantStatus } from '../../src/tenants/index.js';
import { apiKeyRoles, createApiKey, listApiKeys, revokeApiKey, type ApiKeyRole } from '../../src/keys/index.js';
import type { Actor } from '../../src/audit/index.js';
import { redisLimitsAnnouncer, type LimitsAnnouncer } from '../../src/plans/index.js';
import { allRoles, type Role } from '../role-names.js';
import { registerAnomalyCommand } from './anomaly-command.js';
import { registerUsageCommand } from './usage-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerSimulateCommand } from './simulate-command.js';
import { registerBillingCommands } from './billing-command.js';
import { registerStripeCommand } from './stripe-command.js';
import { registerAccessCommands } from './access-command.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env?: Record<string, string | undefined>;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

export const serveRoles = allRoles;
/** Commands that keep running; every other command ends the process when done. */
export const longRunningCommands: readonly string[] = ['serve', ...serveRoles];
export type ServeRole = Role;

/** Failures the user can act on: printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return { type: 'cli', id: name };
}

/**
 * Runs a limits-changing write with an announcer (the write announces after its commit): every
 * admission process drops its cached limits for the tenant. The change is already committed when
 * it is announced: a failed publish only delays it to the cache TTL, so it is a warning.
 */
async function withLimitsAnnouncer<T>(config: Config, io: CliIo, fn: (announceLimits: LimitsAnnouncer) => Promise<T>): Promise<T> {
  // lazyConnect: nothing connects unless the write announces.
  const redis = createRedis(config, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // reported by onFailure
  try {
    return await fn(
      redisLimitsAnnouncer({
        redis,
        config,
        onFailure: (err) => io.err(`warning: could not announce the new limits to running servers (${err.message}); they apply within QUOTA_LIMITS_CACHE_TTL_MS (${config.QUOTA_LIMITS_CACHE_TTL_MS} ms)`),
      }),
    );
  } finally {
    redis.disconnect();
  }
}

async function withPools<T>(config: Config, fn: (pools: PgPools) => Promise<T>): Promise<T> {
  const pools = createPgPools(config, { applicationName: 'tollgate-cli' });
  try {
    return await fn(pools);
  } finally {
    await pools.close();
  }
}

function parseRoles(value: string): ServeRole[] {
  const roles = value.split(',').map((r) => r.trim()).filter(Boolean);
  const bad = roles.filter((r) => !(serveRoles as readonly string[]).includes(r));
  if (bad.length || roles.length === 0) throw new CliError(`unknown role(s) ${JSON.stringify(bad.join(',') || value)}; choose from ${serveRoles.join(', ')}`);
  return [...new Set(roles)] as ServeRole[];
}

async function runServe(config: Config, roles: ServeRole[]): Promise<void> {
  // Imported lazily: only `serve` needs the servers, models and their dependencies.
  const { runServe: serve } = await import('../serve.js');
  await serve({ config, roles });
}

export function buildProgram(io: CliIo = defaultIo): Command {
  const config = (): Config => loadConfig(io.env ?? process.env);
  const print = (json: boolean | undefined, obj: unknown, human: string) => io.out(json ? JSON.stringify(obj) : human);

  const program = new Command('tollgate')
    .description('Tollgate: metered, isolated, billable multi-tenant ONNX inference')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program
    .command('migrate')
    .description('create and migrate the Postgres and ClickHouse databases (idempotent)')
    .option('--postgres-only', 'skip ClickHouse')
    .option('--json', 'print one JSON object')
    .action(async (opts: { postgresOnly?: boolean; json?: boolean }) => {
      const cfg = config();
      const log = opts.json ? () => {} : (m: string) => io.out(`  ${m}`);
      const pgResult = await migratePostgres({ config: cfg, log });
      let chResult: { applied: string[] } | null = null;
      if (!opts.postgresOnly) {
        const { migrateClickHouse } = await import('../../src/clickhouse/index.js');
        chResult = await migrateClickHouse({ config: cfg, log });
      }
      const summary = (r: { applied: string[] }) => (r.applied.length ? `applied ${r.applied.length} (${r.applied.join(', ')})` : 'up to date');
      print(opts.json, { postgres: pgResult, clickhouse: chResult }, `postgres: ${summary(pgResult)}${chResult ? `\nclickhouse: ${summary(chResult)}` : ''}`);
    });

  const tenant = program.command('tenant').description('manage tenants');
  tenant
    .command('create')
    .description('create a tenant on a plan')
    .requiredOption('--name <slug>', 'unique tenant name: lower-case letters, digits, - and _')
    .requiredOption('--plan <code>', 'plan code: free, starter, pro, enterprise, ...')
    .option('--timezone <tz>', 'IANA time zone for billing periods', 'UTC')
    .option('--display-name <name>', 'human-friendly name (default: --name)')
    .option('--billing-start <iso>', 'backdate the first plan to this ISO-8601 instant, so history can be imported (`usage import`) and billed')
    .option('--json', 'print {"tenantId": ...}')
    .action(async (opts: { name: string; plan: string; timezone: string; displayName?: string; billingStart?: string; json?: boolean }) => {
      const t = await withPools(config(), (pools) =>
        createTenant({ pools }, { name: opts.name, plan: opts.plan, timezone: opts.timezone, displayName: opts.displayName, billingStart: opts.billingStart, actor: cliActor() }),
      );
      print(opts.json, { tenantId: t.id, name: t.name, plan: opts.plan }, `created tenant ${t.name} (${t.id}) on plan ${opts.plan}`);
    });
  tenant
    .command('list')
    .description('list tenants')
    .option('--json', 'print {"tenants": [...]}')
    .action(async (opts: { json?: boolean }) => {
      const tenants = await withPools(config(), (pools) => listTenants({ pools }));
      const lines = tenants.map((t) => `${t.id}  ${t.name.padEnd(24)} ${t.status.padEnd(9)} ${(t.planCode ?? '-').padEnd(10)} ${t.timezone}`);
      print(opts.json, { tenants }, tenants.length ? [`${'ID'.padEnd(36)}  ${'NAME'.padEnd(24)} ${'STATUS'.padEnd(9)} ${'PLAN'.padEnd(10)} TIMEZONE`, ...lines].join('\n') : 'no tenants');
    });
  tenant
    .command('set-plan')
    .description("move a tenant to another plan from now on (closes the current plan; audited)")
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--plan <code>', 'plan code')
    .option('--json', 'print one JSON object')
    .action(async (opts: { tenant: string; plan: string; json?: boolean }) => {
      const cfg = config();
      const r = await withPools(cfg, (pools) => withLimitsAnnouncer(cfg, io, (announceLimits) => setTenantPlan({ pools, announceLimits }, { tenantId: opts.tenant, plan: opts.plan, actor: cliActor() })));
      print(opts.json, { tenantId: opts.tenant, ...r }, r.changed ? `tenant ${opts.tenant}: ${r.from ?? '-'} -> ${r.to}` : `tenant ${opts.tenant} is already on ${r.to}`);
    });

  for (const [name, status] of [['suspend', 'suspended'], ['activate', 'active']] as const) {
    tenant
      .command(name)
      .description(`${status === 'suspended' ? 'suspend' : 'reactivate'} a tenant (its keys report tenantStatus ${status} on every replica within seconds)`)
      .requiredOption('--tenant <id>', 'tenant id')
      .option('--json', 'print one JSON object')
      .action(async (opts: { tenant: string; json?: boolean }) => {
        const cfg = config();
        const redis = createRedis(cfg, { lazyConnect: true, maxRetriesPerRequest: 1 });
        redis.on('error', () => {});
        try {
          const t = await withPools(cfg, (pools) => setTenantStatus({ pools, redis, config: cfg }, { tenantId: opts.tenant, status, actor: cliActor() }));
          print(opts.json, { tenantId: t.id, status: t.status }, `tenant ${t.name} (${t.id}) is ${t.status}`);
        } finally {
          redis.disconnect();
        }
      });
  }

  const key = program.command('key').description('manage API keys');
  key
    .command('create')
    .description('create an API key (the secret is printed once)')
    .requiredOption('--tenant <id>', 'tenant id')
    .addOption(new Option('--role <role>', 'key role').choices([...apiKeyRoles]).default('member'))
    .option('--name <name>', 'label for the key', '')
    .option('--json', 'print {"keyId": ..., "secret": ..., "prefix": ...}')
    .action(async (opts: { tenant: string; role: ApiKeyRole; name: string; json?: boolean }) => {
      const cfg = config();
      const k = await withPools(cfg, (pools) => createApiKey({ pools, config: cfg }, { tenantId: opts.tenant, role: opts.role, name: opts.name, actor: cliActor() }));
      print(
        opts.json,
        { keyId: k.keyId, secret: k.secret, prefix: k.prefix, tenantId: opts.tenant, role: opts.role },
        `created ${opts.role} key ${k.keyId} (tg_${k.prefix}…) for tenant ${opts.tenant}\n\n  ${k.secret}\n\nStore this secret now: it is not stored and cannot be shown again.`,
      );
    });
  key
    .command('list')
    .description("list a tenant's API keys (never secrets)")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--json', 'print {"keys": [...]}')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const keys = await withPools(config(), (pools) => listApiKeys({ pools }, { tenantId: opts.tenant }));
      const lines = keys.map((k) => `${k.id}  tg_${k.prefix}…  ${k.role.padEnd(8)} ${k.revokedAt ? 'revoked' : 'active '}  ${k.name}`);
      print(opts.json, { keys }, lines.length ? lines.join('\n') : 'no keys');
    });
  key
    .command('revoke')
    .description('revoke an API key (takes effect on every replica within seconds)')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--key <id>', 'key id')
    .option('--json', 'print one JSON object')
    .action(async (opts: { tenant: string; key: string; json?: boolean }) => {
      const cfg = config();
      const redis = createRedis(cfg, { lazyConnect: true, maxRetriesPerRequest: 1 });
      redis.on('error', () => {}); // reported through the publish failure instead
      try {
        const k = await withPools(cfg, (pools) => revokeApiKey({ pools, redis, config: cfg }, { tenantId: opts.tenant, keyId: opts.key, actor: cliActor() }));
        print(opts.json, { keyId: k.id, revokedAt: k.revokedAt }, `revoked key ${k.id}`);
      } finally {
        redis.disconnect();
      }
    });

  program
    .command('models')
    .description('model repository tools')
    .command('prepare')
    .description('build the generated built-in models (mlp-demo, mlp-large) where missing or outdated; `serve` does this for the shipped repository itself')
    .option('--repository <dir>', 'model repository (default: TOLLGATE_MODEL_REPOSITORY)')
    .option('--json', 'print {"repository": ..., "models": [{"name", "built"}]}')
    .action(async (opts: { repository?: string; json?: boolean }) => {
      const repository = path.resolve(opts.repository ?? config().TOLLGATE_MODEL_REPOSITORY);
      // Imported lazily: only this command needs the inference module's model builder (and onnx-proto).
      const { prepareBuiltinModels } = await import('../../inference/src/index.js');
      const models = prepareBuiltinModels(repository);
      print(opts.json, { repository, models }, models.map((m) => `${m.name}: ${m.built ? 'built' : 'up to date'} (${path.join(repository, m.name)})`).join('\n'));
    });

  const addServe = (name: string, description: string, fixedRole?: ServeRole) => {
    const cmd = program.command(name).description(description);
    if (!fixedRole) cmd.option('--roles <list>', `comma-separated roles: ${serveRoles.join(',')}`, serveRoles.join(','));
    cmd.action(async (opts: { roles?: string }) => {
      await runServe(config(), fixedRole ? [fixedRole] : parseRoles(opts.roles ?? serveRoles.join(',')));
    });
  };
  addServe('serve', 'run Tollgate roles in this process (default: all)');
  addServe('inference', 'run only the inference role', 'inference');
  addServe('api', 'run only the GraphQL API role', 'api');
  addServe('worker', 'run only the background worker role', 'worker');
  addServe('otlp', 'run only the OTLP receiver role', 'otlp');
  registerAnomalyCommand(program, io, config);
  registerUsageCommand(program, io, config);
  registerStatusCommand(program, io, config);
  registerSimulateCommand(program, io, config, cliActor);
  registerBillingCommands(program, io, config, cliActor);
  registerStripeCommand(program, io, config);
  registerAccessCommands(program, io, config, cliActor);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 1; // commander already printed help or the problem
    // EmbeddedClickHouseError by name: src/clickhouse is imported lazily (data directory locked, chdb not installed).
    if (isAppError(err) || err instanceof CliError || err instanceof MigrationError || err instanceof ConfigError || (err instanceof Error && err.name === 'EmbeddedClickHouseError')) {
      io.err(`error: ${err.message}`);
      return 1;
    }
    const code = (err as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000' || code === '28000') {
      io.err(`error: cannot reach the database: ${(err as Error).message || code}`);
      return 1;
    }
    io.err(`error: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}

