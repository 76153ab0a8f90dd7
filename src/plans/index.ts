/** Plans: catalog (plans, plan_quotas, price_components), effective limits (the one limits type), quota overrides, limits-change announcements. */
export { getPlan, listPlans, getPriceComponents, getEffectiveLimits, listQuotaOverrides, setQuotaOverride, type PlansDeps, type QuotaOverride } from './repo.js';
export * from './types.js';
export { redisLimitsAnnouncer, limitsChangedChannel, type LimitsAnnouncer } from './limits-changes.js';
