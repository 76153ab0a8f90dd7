/**
 * GET /v2/models/{m}[/versions/{v}]/config: the model's configuration in Triton's JSON form
 * (model_config.proto printed with its field names, enums as names, 64-bit integers as numbers,
 * as Triton's ModelConfigToJson does), so `tritonclient.http.get_model_config` and perf_analyzer
 * read it. Built from config.json (the served contract: the same dims metadata and validation use)
 * and what loading produced (instances, device, model file). Only what Tollgate actually does is
 * described: no optimization, warm-up or sequence batching sections.
 */
import path from 'node:path';
import type { ModelConfig, OutputSpec, TensorSpec } from '../repository/config.js';
import type { ExecDevice } from '../runtime/protocol.js';
import type { Datatype } from './datatypes.js';

/** Triton's DataType enum names; BYTES is TYPE_STRING there. */
const tritonType: Record<Datatype, string> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
};

export interface LoadedFacts {
  /** Sessions serving the version (worker threads it was loaded into). */
  instances: number;
  device: ExecDevice;
  /** The model file the sessions were created from. */
  file: string;
  /** Default queue bound when config.json sets none (INFERENCE_MAX_QUEUE). */
  defaultQueueSize: number;
  /** Longest a request may wait before it is answered 504 (INFERENCE_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
}

function input(t: TensorSpec) {
  return { name: t.name, data_type: tritonType[t.datatype], format: 'FORMAT_NONE', dims: [...t.shape], is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false };
}

function output(t: OutputSpec) {
  return { name: t.name, data_type: tritonType[t.datatype], dims: [...t.shape], label_filename: t.label_filename ?? '', is_shape_tensor: false, is_non_linear_format_io: false };
}

/** Triton's dynamic_batching section; the queue policy states Tollgate's bound and timeout. */
function dynamicBatching(config: ModelConfig, facts: LoadedFacts) {
  const db = config.dynamic_batching;
  if (!db || config.max_batch_size === 0) return undefined;
  return {
    preferred_batch_size: db.preferred_batch_size.filter((n) => n <= config.max_batch_size),
    max_queue_delay_microseconds: db.max_queue_delay_microseconds,
    preserve_ordering: false,
    priority_levels: 0,
    default_priority_level: 0,
    default_queue_policy: {
      timeout_action: 'REJECT',
      default_timeout_microseconds: facts.requestTimeoutMs * 1000,
      // parameters.timeout_ms may lower it per request.
      allow_timeout_override: true,
      max_queue_size: db.max_queue_size ?? facts.defaultQueueSize,
    },
    priority_queue_policy: {},
  };
}

export function tritonModelConfig(name: string, config: ModelConfig, facts: LoadedFacts): Record<string, unknown> {
  const batching = dynamicBatching(config, facts);
  return {
    name,
    platform: config.platform,
    backend: 'onnxruntime',
    runtime: '',
    // Every numbered version in the repository is served (the newest is the default).
    version_policy: { all: {} },
    max_batch_size: config.max_batch_size,
    input: config.inputs.map(input),
    output: config.outputs.map(output),
    batch_input: [],
    batch_output: [],
    ...(batching ? { dynamic_batching: batching } : {}),
    instance_group: [
      {
        name,
        kind: facts.device === 'cuda' ? 'KIND_GPU' : 'KIND_CPU',
        count: facts.instances,
        gpus: facts.device === 'cuda' ? [0] : [],
        secondary_devices: [],
        profile: [],
        passive: false,
        host_policy: '',
      },
    ],
    default_model_filename: path.basename(facts.file),
    cc_model_filenames: {},
    metric_tags: {},
    parameters: {},
    model_warmup: [],
  };
}
