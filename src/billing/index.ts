/** Pricing of usage in integer micros: charge models, exact proportional allocation, cost attribution. */
export {
  chargeModels,
  chargeMicros,
  chargeScaled,
  formatScaledMicros,
  tierRows,
  tierRowsFromJson,
  parseTiers,
  priceComponentFromRow,
  priceComponentRowSchema,
  roundScaled,
  toScaledMicros,
  PRICE_SCALE,
  type ChargeModel,
  type PriceComponent,
  type Tier,
  type TierRow,
} from './pricing.js';
export { parseJsonExact } from './exact-json.js';
export { allocateLargestRemainder } from './allocate.js';
export {
  attributeCost,
  parseDecimalRate,
  applyRate,
  type Attribution,
  type AttributedSlice,
  type MeterCost,
  type UsageSlice,
  type DecimalRate,
} from './attribution.js';
export { costAttribution, costByTenant, providerCost, type BillingDeps, type CostRates, type CostReport } from './cost.js';
export { billableRows, billableRowsByTenant, splitAtHours, mergeCostRows, MAX_COST_ROWS, type CostGroupBy, type CostRow } from './usage-reader.js';
export { pricingSegments, pricingSegmentsForTenants, buildSegments, type PricingSegment } from './plan-segments.js';
export {
  priceRange,
  sliceUsage,
  emptySliceUsage,
  isCudaDevice,
  USAGE_METERS,
  type UsageMeter,
  type MeterCharge,
  type SliceCharge,
  type SliceUsage,
  type BaseFeeCharge,
  type RangePrice,
  type PricedSegmentInput,
} from './segment-pricing.js';
