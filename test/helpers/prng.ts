/** The fixtures' seeded PRNG (mulberry32): floats in [0, 1), the same run for the same seed. */
export { mulberry32 as prng } from '../../fixtures/prng.js';
