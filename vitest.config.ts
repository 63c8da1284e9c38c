import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core CI machine: keep worker count modest so servers on loopback are not starved.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
