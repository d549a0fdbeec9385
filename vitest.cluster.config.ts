import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the controller's own image, CronJobs and Jobs on the real cluster that
 * KUBECONFIG names (see test/cluster/README.md). One file at a time, in order: the scenarios
 * share one cluster and each waits for real pods.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    sequence: { concurrent: false },
    reporters: ['default'],
  },
});
