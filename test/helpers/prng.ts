/** Tests use the project's one seeded PRNG (src/shared/prng.ts). */
export { prng } from '../../src/shared/index.js';
