import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property and end-to-end suites spawn real git and real processes; a shared 2-core
    // machine needs generous per-test limits, but a hang must still end the run.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
