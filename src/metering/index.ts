/**
 * Metering's registry: the one list of meters (name, display name, unit, scale, how each is read
 * from a usage record and from the rollups, when admission charges it). Plans, quotas,
 * reconciliation, cost attribution and the ClickHouse readers derive from it.
 */
export {
  meterDefinitions,
  meters,
  overrideKinds,
  admissionLimitKinds,
  isMeter,
  meterDefinition,
  deviceClass,
  unitsOfRecord,
  unitsOfRollup,
  rollupColumns,
  meterSumsOverEvents,
  type Meter,
  type OverrideKind,
  type MeterDefinition,
  type MeterSource,
  type DeviceClass,
  type UsageFacts,
  type RollupSums,
} from './meters.js';
