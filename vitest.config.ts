import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Multi-process tests start real gateways; each file gets time for a compressed drain, never a sleep.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Two cores: keep the heavy end-to-end files from running all at once.
    maxWorkers: 2,
  },
});
