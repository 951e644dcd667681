import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Multi-process tests start real gateways; each file gets time for a compressed drain, never a sleep.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // One file at a time: the end-to-end files each run several processes against timing budgets, and on
    // two cores two such files at once halve each other's CPU (a CI run saw a Baton client miss its move).
    maxWorkers: 1,
  },
});
