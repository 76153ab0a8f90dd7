/**
 * Prometheus metrics, Triton-like names, on a registry owned by one server instance.
 * Histograms rather than summaries (what Triton users asked for: triton#3060, #7672).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const usBuckets = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000].map((us) => us / 1e6);

export function createInferenceMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_inference_process_' });
  const labels = ['model', 'version'] as const;
  return {
    registry,
    success: new Counter({ name: 'tollgate_inference_request_success_total', help: 'Inference requests answered 200', labelNames: labels, registers: [registry] }),
    failure: new Counter({
      name: 'tollgate_inference_request_failure_total',
      help: 'Inference requests that failed, by reason (bad_input, not_found, rejected, timeout, error)',
      labelNames: [...labels, 'reason'],
      registers: [registry],
    }),
    inferenceCount: new Counter({ name: 'tollgate_inference_count_total', help: 'Inferences performed (batch items, not requests)', labelNames: labels, registers: [registry] }),
    execCount: new Counter({ name: 'tollgate_inference_exec_count_total', help: 'Model executions (dynamic batches); average batch = count / exec_count', labelNames: labels, registers: [registry] }),
    queueDuration: new Histogram({ name: 'tollgate_inference_queue_duration_seconds', help: 'Time requests waited in the batcher queue', labelNames: labels, buckets: usBuckets, registers: [registry] }),
    computeDuration: new Histogram({ name: 'tollgate_inference_compute_duration_seconds', help: 'session.run time per batch', labelNames: labels, buckets: usBuckets, registers: [registry] }),
    requestDuration: new Histogram({ name: 'tollgate_inference_request_duration_seconds', help: 'End-to-end time of inference requests', labelNames: labels, buckets: usBuckets, registers: [registry] }),
    batchSize: new Histogram({ name: 'tollgate_inference_batch_size', help: 'Items per executed batch', labelNames: labels, buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] }),
    queued: new Gauge({ name: 'tollgate_inference_pending_requests', help: 'Requests waiting in batcher queues', labelNames: labels, registers: [registry] }),
    loaded: new Gauge({ name: 'tollgate_inference_model_instances', help: 'Instances (sessions) of each loaded model version, by device', labelNames: [...labels, 'device'], registers: [registry] }),
  };
}

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;
