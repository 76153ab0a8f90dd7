/** Tenants: creation (platform), lookup, status, plan changes and history. */
export {
  createTenant,
  getTenant,
  listTenants,
  setTenantStatus,
  currentPlan,
  listTenantPlans,
  setTenantPlan,
  tenantNameSchema,
  tenantFromRow,
  TENANT_COLUMNS,
  type Tenant,
  type TenantStatus,
  type TenantPlan,
  type TenantsDeps,
  type CreateTenantInput,
} from './repo.js';
