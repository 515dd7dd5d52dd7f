import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Real containers: one file at a time on a 2-core machine.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 900_000,
          globalSetup: ['test/helpers/integration-setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The real Claude Code binary in real bottles.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 900_000,
          globalSetup: ['test/helpers/integration-setup.ts'],
        },
      },
    ],
  },
});
