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
