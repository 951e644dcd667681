// The end of a terminating drain: the app's own shutdown (`beforeExit`, e.g. fastify.close()) bounded by what
// is left before the kubelet's SIGKILL, then exit 0 as the default SIGTERM handler would have.

import type { DrainBudget } from './budget.js';
import type { DrainReport } from './drain-record.js';
import type { ResolvedLogger } from './logger.js';

export interface DrainExit {
  readonly beforeExit: ((report: DrainReport) => unknown) | undefined;
  readonly budget: DrainBudget;
  readonly logger: ResolvedLogger;
  /** Stop the admin server, signal handlers and gates. */
  readonly release: () => Promise<void>;
}

export async function exitAfterDrain(report: DrainReport, { beforeExit, budget, logger, release }: DrainExit) {
  if (beforeExit) {
    const leftMs = Math.max(0, report.startedAt + budget.gracePeriodMs - budget.safetyMarginMs / 2 - Date.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => beforeExit(report)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, leftMs);
        }),
      ]);
    } catch (error) {
      logger.error({ err: String(error) }, 'baton: beforeExit failed; exiting anyway');
    } finally {
      clearTimeout(timer);
    }
  }
  await release();
  // Let 'drained' listeners and pending writes run, then exit.
  setImmediate(() => process.exit(0));
}
