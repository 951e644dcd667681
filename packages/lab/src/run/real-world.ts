// The real-world budget the lab compresses, and its drain budget at a time scale (drain-core's own rule).

import { resolveDrainBudget } from '@baton/drain-core';

// The real-world budget the lab compresses: terminationGracePeriodSeconds 120, propagation 30 s (at least
// what GKE's passthrough LB needs to notice a node without serving pods: 8 s × 3 health checks, docs/kubernetes.md),
// close timeout 5 s, margin 2 s (window 83 s), endpoint propagation lag 5 s, client back-off 1 s doubling to 5 min.
export const REAL = {
  graceMs: 120_000,
  propagationMs: 30_000,
  closeTimeoutMs: 5_000,
  marginMs: 2_000,
  lagMs: 5_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 300_000,
  /** Linux gives up a connect() whose SYNs go unanswered after 127 s (tcp_syn_retries 6). */
  synTimeoutMs: 127_000,
};

/** The lab's drain budget, scaled: the real one compressed by the time scale (drain-core's rule resolves it). */
export function labBudgetInput(scale: (ms: number) => number, propagationMs: number) {
  return {
    gracePeriodMs: scale(REAL.graceMs),
    propagationDelayMs: scale(propagationMs),
    closeTimeoutMs: scale(REAL.closeTimeoutMs),
    safetyMarginMs: scale(REAL.marginMs),
  };
}

export function labBudget(scale: (ms: number) => number, propagationMs: number) {
  return resolveDrainBudget(labBudgetInput(scale, propagationMs));
}

/** The real-world budget (window 83 s). */
export const REAL_BUDGET = labBudget((ms) => ms, REAL.propagationMs);
