/**
 * Who may use the API with a JWT (issue 17.11): a token names its user and tenant, and these
 * tables decide the role.
 *   tollgate member add --tenant ID --user EMAIL|ID --role member|admin|finance [--name N] [--json]
 *   tollgate member remove --tenant ID --user EMAIL|ID [--json]
 *   tollgate member list --tenant ID [--json]
 *   tollgate operator add|remove --user EMAIL|ID [--json]; tollgate operator list [--json]
 *   tollgate token revoke --jti ID [--reason TEXT] [--json]
 * Changes reach every running API replica at once (Redis); the rules live in src/identity.
 */
import { Option, type Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import { createPgPools, type PgPools } from '../../src/db/index.js';
import { createRedis } from '../../src/shared/index.js';
import type { Actor } from '../../src/audit/index.js';
import {
  addMember,
  addPlatformOperator,
  listMembers,
  listPlatformOperators,
  memberRoles,
  removeMember,
  removePlatformOperator,
  revokeJwt,
  type MemberRole,
  type MembersDeps,
} from '../../src/identity/index.js';

/** Where the command prints (program.ts's CliIo fits; not imported, to keep the import graph acyclic). */
export interface AccessCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export function registerAccessCommands(program: Command, io: AccessCommandIo, config: () => Config, actor: () => Actor): void {
  const print = (json: boolean | undefined, obj: unknown, human: string) => io.out(json ? JSON.stringify(obj) : human);

  /** Pools and a publisher for one command; a failed announcement is reported by the domain call. */
  async function withDeps<T>(fn: (deps: MembersDeps) => Promise<T>): Promise<T> {
    const cfg = config();
    const pools: PgPools = createPgPools(cfg, { applicationName: 'tollgate-cli' });
    const redis = createRedis(cfg, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // reported through the publish failure instead
    try {
      return await fn({ pools, redis, config: cfg });
    } finally {
      redis.disconnect();
      await pools.close();
    }
  }

  const member = program.command('member').description("manage a tenant's users (their JWTs get the role given here)");
  member
    .command('add')
    .description("add a user to a tenant (a new e-mail creates the user) or change the user's role there")
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--user <email|id>', "the user's e-mail address or id")
    .addOption(new Option('--role <role>', 'role in the tenant').choices([...memberRoles]).default('member'))
    .option('--name <name>', 'display name for a new user')
    .option('--json', 'print the membership as one JSON object')
    .action(async (opts: { tenant: string; user: string; role: MemberRole; name?: string; json?: boolean }) => {
      const m = await withDeps((deps) => addMember(deps, { tenantId: opts.tenant, user: opts.user, role: opts.role, ...(opts.name !== undefined ? { name: opts.name } : {}), actor: actor() }));
      print(opts.json, m, `${m.email} (${m.userId}) is ${m.role} of tenant ${m.tenantId}`);
    });
  member
    .command('remove')
    .description('remove a user from a tenant (its tokens for the tenant are refused from the next request)')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--user <email|id>', "the user's e-mail address or id")
    .option('--json', 'print one JSON object')
    .action(async (opts: { tenant: string; user: string; json?: boolean }) => {
      const r = await withDeps((deps) => removeMember(deps, { tenantId: opts.tenant, user: opts.user, actor: actor() }));
      print(opts.json, { ...r, removed: true }, `removed ${opts.user} from tenant ${r.tenantId}`);
    });
  member
    .command('list')
    .description("list a tenant's users and roles")
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--json', 'print {"members": [...]}')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const members = await withDeps((deps) => listMembers(deps, { tenantId: opts.tenant }));
      print(opts.json, { members }, members.length ? members.map((m) => `${m.userId}  ${m.role.padEnd(8)} ${m.email}  ${m.name}`).join('\n') : 'no members');
    });

  const operator = program.command('operator').description('manage platform operators (role platform: every tenant)');
  operator
    .command('add')
    .description('make a user (a new e-mail creates the user) a platform operator')
    .requiredOption('--user <email|id>', "the user's e-mail address or id")
    .option('--name <name>', 'display name for a new user')
    .option('--json', 'print one JSON object')
    .action(async (opts: { user: string; name?: string; json?: boolean }) => {
      const op = await withDeps((deps) => addPlatformOperator(deps, { user: opts.user, ...(opts.name !== undefined ? { name: opts.name } : {}), actor: actor() }));
      print(opts.json, op, `${op.email} (${op.userId}) is a platform operator`);
    });
  operator
    .command('remove')
    .description('take the platform role from a user (its platform tokens are refused from the next request)')
    .requiredOption('--user <email|id>', "the user's e-mail address or id")
    .option('--json', 'print one JSON object')
    .action(async (opts: { user: string; json?: boolean }) => {
      const r = await withDeps((deps) => removePlatformOperator(deps, { user: opts.user, actor: actor() }));
      print(opts.json, { ...r, removed: true }, `${opts.user} is no longer a platform operator`);
    });
  operator
    .command('list')
    .description('list platform operators')
    .option('--json', 'print {"operators": [...]}')
    .action(async (opts: { json?: boolean }) => {
      const operators = await withDeps((deps) => listPlatformOperators(deps));
      print(opts.json, { operators }, operators.length ? operators.map((o) => `${o.userId}  ${o.email}  ${o.name}  (added by ${o.addedBy ?? '?'})`).join('\n') : 'no platform operators');
    });

  program
    .command('token')
    .description('JWTs')
    .command('revoke')
    .description('revoke a JWT by its jti claim (refused by every API replica from the next request)')
    .requiredOption('--jti <id>', "the token's jti claim")
    .option('--reason <text>', 'why (audited)', '')
    .option('--json', 'print one JSON object')
    .action(async (opts: { jti: string; reason: string; json?: boolean }) => {
      const r = await withDeps((deps) => revokeJwt(deps, { jti: opts.jti, reason: opts.reason, actor: actor() }));
      print(opts.json, r, `revoked token ${r.jti}`);
    });
}
