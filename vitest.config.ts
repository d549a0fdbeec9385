import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster suite needs a real cluster and its own command: `npm run test:cluster`.
    exclude: ['test/cluster/**', '**/node_modules/**'],
    // Property and end-to-end suites spawn real git and real processes; a shared 2-core
    // machine needs generous per-test limits, but a hang must still end the run.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
