// The one drain budget: everything a drain does must fit in the pod's terminationGracePeriodSeconds,
// because the kubelet sends SIGKILL when it runs out (and the preStop hook counts against it).
//
//   gracePeriodMs ≥ propagationDelayMs + drainWindowMs + closeTimeoutMs + safetyMarginMs
//
// The drain window is derived from the others unless given. Other packages (the Kubernetes kit's tests, the
// lab) call resolveDrainBudget instead of restating the rule.

import { codedError, ErrorCodes } from './errors.js';
import { durationOption } from './option-checks.js';

export interface DrainBudgetInput {
  /** The pod's terminationGracePeriodSeconds, in ms. Default 30000 (the Kubernetes default). */
  gracePeriodMs?: number | undefined;
  /** How long to keep accepting upgrades after the trigger, while endpoint removal propagates. Default 15000. */
  propagationDelayMs?: number | undefined;
  /** The window over which open connections are closed one by one. Default: what the grace period leaves. */
  drainWindowMs?: number | undefined;
  /** How long a closed connection may take to answer the close handshake before it is terminated. Default 5000. */
  closeTimeoutMs?: number | undefined;
  /** Time kept free before SIGKILL for the process to exit. Default 2000. */
  safetyMarginMs?: number | undefined;
}

export interface DrainBudget {
  readonly gracePeriodMs: number;
  readonly propagationDelayMs: number;
  readonly drainWindowMs: number;
  readonly closeTimeoutMs: number;
  readonly safetyMarginMs: number;
  /** True when drainWindowMs was derived from the grace period rather than given. */
  readonly drainWindowDerived: boolean;
  /** propagationDelayMs + drainWindowMs + closeTimeoutMs: the latest a drain can take from its trigger. */
  readonly worstCaseDrainMs: number;
}

export const BUDGET_DEFAULTS = {
  gracePeriodMs: 30_000,
  propagationDelayMs: 15_000,
  closeTimeoutMs: 5_000,
  safetyMarginMs: 2_000,
} as const;

export function resolveDrainBudget(input: DrainBudgetInput = {}): DrainBudget {
  const gracePeriodMs = durationOption('gracePeriodMs', input.gracePeriodMs, BUDGET_DEFAULTS.gracePeriodMs, 1);
  const propagationDelayMs = durationOption(
    'propagationDelayMs',
    input.propagationDelayMs,
    BUDGET_DEFAULTS.propagationDelayMs,
  );
  const closeTimeoutMs = durationOption('closeTimeoutMs', input.closeTimeoutMs, BUDGET_DEFAULTS.closeTimeoutMs, 1);
  const safetyMarginMs = durationOption('safetyMarginMs', input.safetyMarginMs, BUDGET_DEFAULTS.safetyMarginMs);
  const fixedMs = propagationDelayMs + closeTimeoutMs + safetyMarginMs;
  const parts = `propagationDelayMs (${propagationDelayMs}) + closeTimeoutMs (${closeTimeoutMs}) + safetyMarginMs (${safetyMarginMs})`;

  let drainWindowMs: number;
  const drainWindowDerived = input.drainWindowMs === undefined;
  if (drainWindowDerived) {
    drainWindowMs = gracePeriodMs - fixedMs;
    if (drainWindowMs <= 0) {
      throw codedError(
        RangeError,
        ErrorCodes.BUDGET,
        `Impossible drain budget: gracePeriodMs (${gracePeriodMs}) leaves no drain window after ${parts} = ${fixedMs}. ` +
          `Raise gracePeriodMs (terminationGracePeriodSeconds) above ${fixedMs}, or lower propagationDelayMs or closeTimeoutMs.`,
      );
    }
  } else {
    drainWindowMs = durationOption('drainWindowMs', input.drainWindowMs, 0);
    const needed = fixedMs + drainWindowMs;
    if (needed > gracePeriodMs) {
      throw codedError(
        RangeError,
        ErrorCodes.BUDGET,
        `Impossible drain budget: gracePeriodMs (${gracePeriodMs}) is less than drainWindowMs (${drainWindowMs}) + ${parts} = ${needed}. ` +
          `Raise gracePeriodMs (terminationGracePeriodSeconds) to at least ${needed}, or lower drainWindowMs to at most ${Math.max(0, gracePeriodMs - fixedMs)}.`,
      );
    }
  }
  return {
    gracePeriodMs,
    propagationDelayMs,
    drainWindowMs,
    closeTimeoutMs,
    safetyMarginMs,
    drainWindowDerived,
    worstCaseDrainMs: propagationDelayMs + drainWindowMs + closeTimeoutMs,
  };
}
