/** Pricing of usage in integer micros: charge models, exact proportional allocation, cost attribution. */
export {
  chargeModels,
  chargeMicros,
  chargeScaled,
  parseTiers,
  priceComponentFromRow,
  priceComponentRowSchema,
  roundScaled,
  toScaledMicros,
  PRICE_SCALE,
  type ChargeModel,
  type PriceComponent,
  type Tier,
} from './pricing.js';
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
