import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default (one fork fewer than the cores) runs the files one at a time on 2
    // cores: 676 s here, against 441 s with two (most tests wait on child processes, disk
    // and sockets, not CPU). No test asserts a time; the slowest (kill9, 400 s timeout)
    // took 52 s with two.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
