/**
 * config.json of a model folder. Shapes follow Triton: when max_batch_size > 0 they omit the
 * batch dimension (the server adds a leading -1); -1 marks a variable dimension.
 */
import path from 'node:path';
import { z } from 'zod';
import { datatypes } from '../oip/datatypes.js';

const tensorSpec = z.object({
  name: z.string().min(1).max(256),
  datatype: z.enum(datatypes),
  shape: z.array(z.number().int().min(-1)).max(8),
});
export type TensorSpec = z.infer<typeof tensorSpec>;

/**
 * An output may name a labels file (Triton's `label_filename`): one label per line, line i naming
 * class i, appended to classification results ("score:index:label"). Relative to the model folder.
 */
const outputSpec = tensorSpec.extend({
  label_filename: z
    .string()
    .min(1)
    .max(256)
    .refine((f) => !path.isAbsolute(f) && !f.split(/[\\/]/).includes('..'), 'must be a file name inside the model folder')
    .optional(),
});
export type OutputSpec = z.infer<typeof outputSpec>;

const packageSource = z.object({ package: z.string().min(1), path: z.string().min(1) });
const fileSource = z.object({ file: z.string().min(1) });

export const modelConfigSchema = z
  .object({
    description: z.string().optional(),
    generator: z.string().optional(),
    platform: z.literal('onnxruntime_onnx').default('onnxruntime_onnx'),
    max_batch_size: z.number().int().min(0).max(4096).default(0),
    inputs: z.array(tensorSpec).min(1).max(64),
    outputs: z.array(outputSpec).min(1).max(64),
    dynamic_batching: z
      .object({
        max_queue_delay_microseconds: z.number().int().min(0).max(10_000_000).default(500),
        preferred_batch_size: z.array(z.number().int().positive()).default([]),
        /** Bounded queue (items waiting); beyond it requests get 503. Default: INFERENCE_MAX_QUEUE. */
        max_queue_size: z.number().int().positive().optional(),
        /**
         * Start a batch as soon as an instance is free instead of waiting max_queue_delay for
         * company: low latency when quiet, and batches still form under load because requests
         * gather while every instance is busy. Off = Triton's behaviour.
         */
        idle_dispatch: z.boolean().default(false),
      })
      .optional(),
    /** Sessions (one per worker thread, at most the pool size) serving this model concurrently. */
    instance_count: z.number().int().positive().max(64).default(1),
    /** "shared" with every tenant, or private to one tenant id (others see 404). */
    visibility: z.union([z.literal('shared'), z.object({ tenant: z.string().uuid() })]).default('shared'),
    /**
     * Unbatched models (max_batch_size 0) whose inputs still carry several streams: the dimension
     * of each named input that counts the items (silero-vad: `input` 0, `state` 1). The request is
     * metered and admitted with that many items; the named inputs must agree. Without it an
     * unbatched request is one item.
     */
    batch_axes: z.record(z.string().min(1).max(256), z.number().int().min(0).max(7)).optional(),
    // `pricing` ({ meter }) was parsed and never applied (issue 17.4): prices come from the
    // tenant's plan per meter. The field is no longer part of the config (an old one is ignored).
    /** Versions whose model file lives outside the folder (an npm package or a path). */
    versions: z.record(z.string().regex(/^[1-9][0-9]{0,8}$/), z.union([packageSource, fileSource])).default({}),
  })
  .superRefine((c, ctx) => {
    const names = [...c.inputs, ...c.outputs].map((t) => t.name);
    if (new Set(c.inputs.map((t) => t.name)).size !== c.inputs.length) ctx.addIssue({ code: 'custom', message: 'duplicate input name' });
    if (new Set(c.outputs.map((t) => t.name)).size !== c.outputs.length) ctx.addIssue({ code: 'custom', message: 'duplicate output name' });
    if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'no tensors' });
    for (const [name, axis] of Object.entries(c.batch_axes ?? {})) {
      const input = c.inputs.find((t) => t.name === name);
      if (c.max_batch_size > 0) ctx.addIssue({ code: 'custom', message: 'batch_axes is for unbatched models (max_batch_size 0); a batched model counts items on dimension 0' });
      else if (!input) ctx.addIssue({ code: 'custom', message: `batch_axes names "${name}", which is not an input` });
      else if (axis >= input.shape.length) ctx.addIssue({ code: 'custom', message: `batch_axes: input "${name}" has ${input.shape.length} dimension(s), axis ${axis} does not exist` });
    }
  });

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** Shape as clients see it (metadata, validation): batch dimension prepended when batching. */
export function fullShape(config: ModelConfig, spec: TensorSpec): number[] {
  return config.max_batch_size > 0 ? [-1, ...spec.shape] : [...spec.shape];
}

/**
 * Classes per item of an output (its elements per batch item: the config shape, which omits the
 * batch dimension when batching), when every dimension is fixed.
 */
export function classesPerItem(shape: readonly number[]): number | undefined {
  return shape.every((d) => d >= 0) ? shape.reduce((n, d) => n * d, 1) : undefined;
}
