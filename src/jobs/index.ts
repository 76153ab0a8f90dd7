/** Scheduled jobs owned by metering. Processors stay thin: the scheduler calls these functions. */
export { runRetention, retentionPolicy, partitionEnd, type RunRetentionOptions, type DroppedPartition, type RetentionConfig } from './retention.js';
