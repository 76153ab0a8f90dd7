/** Builds the executable schema (code first). Pure: no services needed, so it can be emitted offline. */
import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { lexicographicSortSchema, printSchema } from '../graphql-runtime.js';
import { buildSchemaSync } from 'type-graphql';
import { authChecker } from '../auth/checker.js';
import { ApiKeyResolver } from './resolvers/keys.js';
import { InvoiceResolver } from './resolvers/invoice.js';
import { InvoiceStripeResolver } from './resolvers/invoice-stripe.js';
import { AlertResolver } from './resolvers/alert.js';
import { WebhookResolver } from './resolvers/webhook.js';
import { PlanResolver } from './resolvers/plan.js';
import { QuotaResolver } from './resolvers/quotas.js';
import { TenantResolver } from './resolvers/tenant.js';
import { TraceResolver } from './resolvers/trace.js';
import { UsageResolver } from './resolvers/usage.js';
import { ViewerResolver } from './resolvers/viewer.js';

let cached: GraphQLSchema | undefined;

/** The schema (built once per process: type-graphql's metadata is global and immutable after import). */
export function buildApiSchema(): GraphQLSchema {
  cached ??= buildSchemaSync({
    resolvers: [ViewerResolver, TenantResolver, PlanResolver, ApiKeyResolver, UsageResolver, QuotaResolver, TraceResolver, InvoiceResolver, InvoiceStripeResolver, AlertResolver, WebhookResolver],
    authChecker,
    authMode: 'error',
    validate: false,
  });
  return cached;
}

/** The SDL committed as graphql/schema.graphql (sorted, so it is stable across builds). */
export function printApiSchema(schema: GraphQLSchema = buildApiSchema()): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
