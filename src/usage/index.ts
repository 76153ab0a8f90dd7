/**
 * Usage metering: every inference request's UsageRecord goes to a local write-ahead log
 * (group commit) before the client is answered, and a flusher moves it into ClickHouse
 * exactly once. See README.md in this folder for how exactly-once holds for the rollups.
 */
export { usageRecordSchema, MemoryUsageSink, type UsageRecord, type UsageSink, type UsageStatus, type Device, type Rejection } from './contract.js';
export { RejectionCounter, REJECTION_COLUMNS } from './rejections.js';
export { createWalUsageSink, walDir, type WalUsageSink, type WalUsageSinkDeps, type WalSinkConfig } from './sink.js';
export { createUsageFlusher, type UsageFlusher, type UsageFlusherDeps, type FlusherStats, type FlusherConfig } from './flusher.js';
export { Wal, inspectWal, type WalOptions, type WalPosition, type WalStats, type WalBacklog } from './wal.js';
export { toUsageRow, USAGE_TABLE, USAGE_COLUMNS, type UsageRow } from './rows.js';
export { importUsage, IMPORT_API_KEY_ID, type UsageImportResult, type UsageImportInput, type UsageImportDeps, type ImportRejection } from './import.js';
export { streamUsageEvents, USAGE_EXPORT_COLUMNS, type UsageExportQuery, type UsageExportRow } from './export.js';
export { tagsFromParameters, importedTagsSchema, MAX_TAGS, TAG_KEY_PATTERN, MAX_TAG_VALUE_LENGTH } from './tags.js';
export { publishWatermark, readWatermarks, forgetWatermark, judgeWatermarks, startWatermarkPublisher, WATERMARK_MARGIN_MS, type ReplicaWatermark, type WatermarkVerdict } from './watermark.js';
