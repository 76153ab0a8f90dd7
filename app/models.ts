/**
 * Models at start-up. A plain `npm install` leaves the shipped repository without its generated
 * models (mlp-demo, mlp-large are git-ignored, built from a fixed seed): `tollgate serve` builds
 * the missing ones before the inference role loads the repository, so a fresh checkout serves
 * what the README's examples call. Only the shipped repository is written to — never a
 * repository the operator configured elsewhere (`tollgate models prepare --repository DIR`
 * does that on request). What still cannot be served is named by the inference role's start-up log.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { prepareBuiltinModels, shippedRepository } from '../inference/src/index.js';

export function prepareServedModels(opts: { repository: string; logger: Logger; shipped?: string }): void {
  const shipped = path.resolve(opts.shipped ?? shippedRepository());
  if (path.resolve(opts.repository) !== shipped) return;
  try {
    for (const m of prepareBuiltinModels(shipped)) {
      if (m.built) opts.logger.info({ model: m.name, repository: shipped }, 'built-in model prepared');
    }
  } catch (err) {
    // Serving the other models beats not starting; the inference role names what is missing.
    opts.logger.error({ err, repository: shipped }, 'built-in models could not be prepared (is onnx-proto installed?)');
  }
}
