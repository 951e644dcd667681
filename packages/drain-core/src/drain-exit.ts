// The end of a terminating drain: the exit policy (only a drain of a pod being deleted ends the process), then
// the app's own shutdown (`beforeExit`, e.g. fastify.close()) bounded by what is left before the kubelet's
// SIGKILL, then exit 0 as the default SIGTERM handler would have.

import type { DrainBudget } from './budget.js';
import type { DrainReport } from './drain-record.js';
import type { ResolvedLogger } from './logger.js';
import type { ExitAfterDrain } from './options.js';

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

/** What the policy reads of the drain as it is now (a signal can come after the report was made). */
export interface ExitFacts {
  readonly forced: boolean;
  readonly terminating: boolean;
  readonly signalled: boolean;
}

/**
 * The exit policy, in one place: never after destroy() nor a manual drain of a pod that stays; after a
 * terminating drain once signalled ('on-signal', the default) or at once ('always'); never with 'never'. A
 * signal that arrives after the drain ended exits then: drain-core's handler replaced the default one.
 */
export class ExitPolicy {
  readonly #mode: ExitAfterDrain;
  readonly #exit: DrainExit;
  readonly #facts: () => ExitFacts;
  #report: DrainReport | undefined;
  #exiting = false;

  constructor(mode: ExitAfterDrain, exit: DrainExit, facts: () => ExitFacts) {
    this.#mode = mode;
    this.#exit = exit;
    this.#facts = facts;
  }

  /** The drain ended with `report`. */
  drained(report: DrainReport): void {
    this.#report = report;
    this.#exitIfDue();
  }

  /** A signal arrived (before or after the drain ended). */
  signalled(): void {
    this.#exitIfDue();
  }

  #exitIfDue(): void {
    const report = this.#report;
    if (!report || this.#exiting) return;
    const { forced, terminating, signalled } = this.#facts();
    const due = this.#mode === 'always' || (this.#mode === 'on-signal' && signalled);
    if (forced || !terminating || !due) return;
    this.#exiting = true;
    void exitAfterDrain(report, this.#exit);
  }
}
