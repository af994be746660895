import { defineConfig } from 'vitest/config';

// Registry throughput (layerstore push/pull/serve against skopeo and docker-registry):
// a benchmark, not a test, so it lives here and runs only with `npm run bench:registry`.
export default defineConfig({
  test: { include: ['bench/registry-throughput.test.ts'], testTimeout: 600_000, hookTimeout: 600_000, pool: 'forks' },
});
