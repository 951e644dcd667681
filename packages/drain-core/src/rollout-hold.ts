// The rollout-aware hold (docs/architecture.md, "Rollout-aware hold"): when a pod is deleted because its
// Deployment replaces it, the Deployment controller deletes the old pods in batches, as new pods become
// available. A client closed by an early pod would reconnect to an old pod that still serves and be closed
// again. So a terminating drain asks a hook whether pods released together with this one still serve, and
// starts closing only once they are all terminating and their endpoint removal has propagated. drain-core
// knows nothing of Kubernetes: @baton/kubernetes is one source of the hook.

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

/** When closing starts, given what the hold knows so far (monotonic ms). */
export function closingStartAt(
  times: DrainTimes,
  hold: { pending: boolean; releasedAt?: number | undefined; waitPropagation: boolean },
  propagationDelayMs: number,
): number {
  if (hold.pending) return times.holdCapAt;
  if (hold.releasedAt === undefined || !hold.waitPropagation) return times.propagatedAt;
  return Math.min(times.holdCapAt, Math.max(times.propagatedAt, hold.releasedAt + propagationDelayMs));
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
