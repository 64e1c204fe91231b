import { defineConfig } from 'vitest/config';

// Three projects run in this order by scripts/test.sh: unit (recorded fixtures, fast), integration (private
// engines), swarm (one shared 3-manager + 1-worker swarm of private engines in network namespaces).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000,
          // Each file starts its own private engine; two at a time is what 2 cores sustain.
          maxWorkers: 2, fileParallelism: true,
        },
      },
      {
        test: {
          name: 'swarm', include: ['test/swarm/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000,
          globalSetup: ['test/bed/global-swarm.ts'], fileParallelism: false,
        },
      },
    ],
  },
});
