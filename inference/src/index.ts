/** Public surface of the inference role. */
export { createInferenceServer, SERVER_NAME, SERVER_VERSION } from './server.js';
export type { InferenceServer, InferenceServerDeps, Principal } from './server.js';
export { fifoQueueFactory, FifoQueue } from './batcher/fifo.js';
export { DeviceError } from './runtime/device.js';
export { prepareBuiltinModels, shippedRepository, builtinModels } from './repository/builtin.js';
export { scanRepository, type ScanResult } from './repository/repository.js';
