import { defineConfig } from 'vitest/config';

// Integration suites spawn real processes (origins, workerd, redis); two cores means at most two
// files at once, and generous timeouts because a cold workerd start takes a few seconds.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
