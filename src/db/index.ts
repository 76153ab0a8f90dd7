/** Postgres access: pools (app role under RLS, owner for admin), tenant/platform transactions, migrations. */
export { createPgPools, appDatabaseUrl, assertRestrictedAppRole, UnsafeAppRoleError, type PgPools, type PgPool, type PgClient } from './pools.js';
export { withTenant, withPlatform, isUuid } from './tx.js';
export { tracedQuery } from './query.js';
export { migratePostgres, readMigrations, defaultMigrationsDir, packageRoot, MigrationError, type MigrateOptions, type MigrationFile } from './migrate.js';
export { scramSha256Verifier } from './scram.js';
