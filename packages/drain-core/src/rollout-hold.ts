// The rollout-aware hold (docs/architecture.md, "Rollout-aware hold"): when a pod is deleted because its
// Deployment replaces it, the Deployment controller deletes the old pods in batches, as new pods become
// available. A client closed by an early pod would reconnect to an old pod that still serves and be closed
// again. So a terminating drain asks a hook whether pods released together with this one still serve, and
// starts closing only once they are all terminating and their endpoint removal has propagated. drain-core
// knows nothing of Kubernetes: @baton/kubernetes is one source of the hook.

import { ErrorCodes } from './errors.js';
import type { Logger } from './logger.js';

export interface RolloutHoldContext {
  /**
   * Aborted when the hold ends whatever the hook says: its cap was reached (the window must not shrink below
   * `minWindowShare`), or the drain was destroyed. Stop watching then; the resolved value is ignored.
   */
  readonly signal: AbortSignal;
  /** Epoch ms at which the hold is capped. */
  readonly capAt: number;
  /** The controller's logger, for the hook's own lines. */
  readonly logger: Required<Logger>;
}

/**
 * What the hook found. `peers-terminating`: every pod released together with this one is terminating or gone;
 * closing starts one propagation delay after that (new connections can still reach a pod until its endpoint
 * removal has propagated). `no-rollout`: nothing to wait for (a scale-down, a node drain); closing starts as
 * without a hold. `unknown`: the hook could not tell (its `reason` a BATON_ERR_* code); as without a hold.
 */
export type RolloutHoldResult =
  | {
      readonly outcome: 'peers-terminating';
      readonly reason?: string;
      /**
       * Epoch ms of the earliest forced kill (SIGKILL) among the pods released together with this one. The
       * window then ends as that pod's would, so the group's closes share one window instead of piling up.
       * Never lengthens this pod's own window, never shortens it below the minimum.
       */
      readonly groupDeadlineAt?: number;
    }
  | { readonly outcome: 'no-rollout' | 'unknown'; readonly reason: string };

/** Called once, at the start of a terminating drain. */
export type RolloutHold = (context: RolloutHoldContext) => Promise<RolloutHoldResult>;

export type HoldOutcome = 'released' | 'capped' | 'no-rollout' | 'unknown';

export interface HoldReport {
  /** released: peers all terminating in time; capped: the minimum window forced the start; else as the hook said. */
  readonly outcome: HoldOutcome;
  /** The hook's reason (or the code of its failure). */
  readonly reason: string;
  /** How much later than `propagationDelayMs` after the trigger closing started, in ms. */
  readonly heldMs: number;
  /** The window the closes were spread over, in ms (shorter than drainWindowMs after a hold). */
  readonly windowMs: number;
}

/** Monotonic times (performance.now()) that bound one drain. */
export interface DrainTimes {
  /** End of the propagation delay: the earliest closing may start. */
  readonly propagatedAt: number;
  /** The latest closing may start: the window keeps its minimum share. */
  readonly holdCapAt: number;
  /** The window's end without a hold and without alignment. */
  readonly windowEndAt: number;
}

export function drainTimes(
  triggeredAt: number,
  budget: { propagationDelayMs: number; drainWindowMs: number },
  minWindowShare: number,
): DrainTimes {
  const propagatedAt = triggeredAt + budget.propagationDelayMs;
  const windowEndAt = propagatedAt + budget.drainWindowMs;
  return { propagatedAt, windowEndAt, holdCapAt: windowEndAt - budget.drainWindowMs * minWindowShare };
}

/**
 * The window's end once closing starts at `startAt`: the pod's own end, moved earlier to the group's deadline
 * (less the close timeout and margin the group's pods keep, as this one does), never below the minimum window.
 */
export function windowEndAt(
  times: DrainTimes,
  startAt: number,
  minWindowMs: number,
  groupWindowEndAt: number | undefined,
): number {
  const own = times.windowEndAt;
  if (groupWindowEndAt === undefined || groupWindowEndAt >= own) return own;
  return Math.max(startAt + minWindowMs, groupWindowEndAt);
}

const HOOK_OUTCOMES = new Set(['peers-terminating', 'no-rollout', 'unknown']);

/** Timers fire a little late; a start within this of the cap still counts as released in time. */
const CLOCK_SLACK_MS = 5;

/**
 * One drain's hold: calls the hook once, records its answer, and says when closing may start. Times are
 * monotonic (performance.now()), converted to epoch ms only for the hook.
 */
export class HoldRun {
  readonly #abort = new AbortController();
  readonly #times: DrainTimes;
  readonly #propagationDelayMs: number;
  readonly #logger: Required<Logger>;
  #outcome: HoldOutcome | undefined;
  #reason = '';
  #settledAt: number | undefined;
  #groupDeadlineAt: number | undefined;

  /** `onSettled` runs when the hook's answer changes when closing may start. */
  constructor(
    hook: RolloutHold,
    options: { times: DrainTimes; propagationDelayMs: number; logger: Required<Logger>; onSettled: () => void },
  ) {
    this.#times = options.times;
    this.#propagationDelayMs = options.propagationDelayMs;
    this.#logger = options.logger;
    const capAt = Date.now() + (options.times.holdCapAt - performance.now());
    this.#logger.info({ capAt: new Date(capAt).toISOString() }, 'baton: rollout hold started');
    let answer: Promise<RolloutHoldResult>;
    try {
      answer = Promise.resolve(hook({ signal: this.#abort.signal, capAt, logger: options.logger }));
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (result) => this.#settle(result, options.onSettled),
      (error: unknown) =>
        this.#settle({ outcome: 'unknown', reason: errorCode(error, ErrorCodes.HOLD_FAILED) }, options.onSettled),
    );
  }

  /** Still waiting for the hook. */
  get pending(): boolean {
    return this.#outcome === undefined;
  }

  /** When closing starts, as far as the hold knows now. */
  closingStartAt(): number {
    const times = this.#times;
    if (this.#outcome === undefined) return times.holdCapAt;
    if (this.#outcome !== 'released') return times.propagatedAt;
    // The peers' endpoints need their own propagation delay to leave every load balancer.
    return Math.min(
      times.holdCapAt,
      Math.max(times.propagatedAt, (this.#settledAt as number) + this.#propagationDelayMs),
    );
  }

  /**
   * Closing starts now: a hold that has not been released in time is capped (and its hook aborted). Returns
   * the group's window end (monotonic), if the hook gave one.
   */
  begin(now: number, budget: { closeTimeoutMs: number; safetyMarginMs: number }): number | undefined {
    const releasedTooLate =
      this.#outcome === 'released' &&
      (this.#settledAt as number) + this.#propagationDelayMs > this.#times.holdCapAt + CLOCK_SLACK_MS;
    if (this.#outcome === undefined || releasedTooLate) {
      this.#reason = this.#outcome === undefined ? 'minimum window reached' : 'peers terminated after the cap';
      this.#outcome = 'capped';
      this.#abort.abort();
      this.#logger.warn(
        { reason: this.#reason },
        'baton: rollout hold capped: other pods still serve, but the window cannot shrink further',
      );
    }
    // The earliest SIGKILL among the pods released together; the group runs one budget.
    if (this.#groupDeadlineAt === undefined) return undefined;
    return now + (this.#groupDeadlineAt - Date.now()) - budget.closeTimeoutMs - budget.safetyMarginMs;
  }

  /** The drain ended (or was destroyed): stop the hook. */
  stop(): void {
    this.#abort.abort();
  }

  /** What the report says; closing started at `closingStartedAt` (0: never) and ended its window at `windowEnd`. */
  report(closingStartedAt: number, windowEnd: number): HoldReport {
    const closed = closingStartedAt > 0;
    return {
      // Destroyed while still waiting: the hold never decided anything.
      outcome: this.#outcome ?? 'capped',
      reason: this.#outcome === undefined ? 'destroyed' : this.#reason,
      heldMs: closed ? Math.max(0, Math.round(closingStartedAt - this.#times.propagatedAt)) : 0,
      windowMs: closed ? Math.round(windowEnd - closingStartedAt) : 0,
    };
  }

  /** For the metrics: held so far (seconds) and the outcome, `holding` while waiting. */
  metrics(closingStartedAt: number): { holdSeconds: number; holdOutcome: string } {
    const until = closingStartedAt > 0 ? closingStartedAt : performance.now();
    return {
      holdSeconds: Math.max(0, until - this.#times.propagatedAt) / 1000,
      holdOutcome: this.#outcome ?? 'holding',
    };
  }

  #settle(result: RolloutHoldResult, onSettled: () => void): void {
    // Capped or stopped first: the answer came too late to matter.
    if (this.#outcome !== undefined || this.#abort.signal.aborted) return;
    if (!result || typeof result !== 'object' || !HOOK_OUTCOMES.has(result.outcome)) {
      this.#outcome = 'unknown';
      this.#reason = ErrorCodes.HOLD_FAILED;
    } else {
      this.#outcome = result.outcome === 'peers-terminating' ? 'released' : result.outcome;
      this.#reason = result.reason ?? result.outcome;
      if (result.outcome === 'peers-terminating' && Number.isFinite(result.groupDeadlineAt)) {
        this.#groupDeadlineAt = result.groupDeadlineAt;
      }
    }
    this.#settledAt = performance.now();
    const log = { outcome: this.#outcome, reason: this.#reason };
    if (this.#outcome === 'unknown') {
      this.#logger.warn(
        log,
        'baton: rollout hold could not tell whether other pods still serve; closing as without a hold',
      );
    } else {
      this.#logger.info(log, 'baton: rollout hold settled');
    }
    onSettled();
  }
}

function errorCode(error: unknown, fallback: string): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('BATON_ERR_') ? code : fallback;
}
