/**
 * Execution provider choice (INFERENCE_DEVICE). onnxruntime-node throws at session creation
 * when CUDA cannot load (no silent fallback), so we probe once with a real model file.
 */
import type { Logger } from 'pino';
import type { WorkerPool } from './pool.js';
import type { ExecDevice } from './protocol.js';

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
}

export async function selectDevice(opts: { mode: 'auto' | 'cpu' | 'cuda'; pool: WorkerPool; probeFile: string | undefined; logger: Logger }): Promise<ExecDevice> {
  const { mode, pool, probeFile, logger } = opts;
  if (mode === 'cpu') return 'cpu';
  const worker = pool.workers[0];
  let reason: string;
  if (!probeFile || !worker) {
    reason = 'no model in the repository to probe the CUDA execution provider with';
  } else {
    try {
      await worker.load('__cuda_probe__', probeFile, 'cuda', true);
      await worker.unload('__cuda_probe__');
      logger.info({ device: 'cuda' }, 'inference device: CUDA execution provider loaded');
      return 'cuda';
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  if (mode === 'cuda') {
    throw new DeviceError(
      `INFERENCE_DEVICE=cuda but the CUDA execution provider cannot be loaded: ${reason}. ` +
        'Install the onnxruntime CUDA provider libraries (see inference/README.md, "GPU") or set INFERENCE_DEVICE=auto|cpu.',
    );
  }
  logger.warn({ device: 'cpu', reason }, `INFERENCE_DEVICE=auto: CUDA execution provider not available (${reason}); falling back to CPU`);
  return 'cpu';
}
