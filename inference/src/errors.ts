import { notFound, type AppError } from '../../src/shared/index.js';

/** Identical for a missing model, a missing version and another tenant's private model. */
export function notFoundModel(model: string, version: string | undefined): AppError {
  return notFound(`model "${model.slice(0, 128)}"${version === undefined ? '' : ` version "${version.slice(0, 64)}"`} not found`);
}
