import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core CI machine: keep worker count modest so servers on loopback are not starved.
    maxWorkers: 2,
    reporters: ['default'],
    env: {
      // The AWS SDK's notice that its releases after January 2027 need Node 22 (printed once per test file
      // that loads it, under Node 20): about the SDK's future, not our code, and the CLI opts out the same way.
      // Lambda runs nodejs22.x, where it never appears.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
