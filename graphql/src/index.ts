/** The GraphQL API role: server factory, schema, principals and the pure auth checker. */
import 'reflect-metadata';
export { createApiServer, armorLimits, type ApiServer, type ApiServerOptions } from './server/server.js';
export type { ApiServerDeps, ApiContext } from './context.js';
export { buildApiSchema, printApiSchema } from './schema/build.js';
export { authChecker, isAllowed, MONEY, ADMIN, PLATFORM, EMAIL } from './auth/checker.js';
export type { Principal, Role } from './auth/principal.js';
export type { QuotaStatusFn, QuotaStatusView, MeterStatus } from './quotas.js';
