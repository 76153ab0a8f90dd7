/** Plans: catalog (plans, plan_quotas, price_components), effective limits, quota overrides. */
export { getPlan, listPlans, getPriceComponents, getEffectiveLimits, listQuotaOverrides, setQuotaOverride, type PlansDeps, type QuotaOverride } from './repo.js';
export * from './types.js';
