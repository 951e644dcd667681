// The JSON view of a drain that the admin endpoints (readiness, liveness, drain, cancel) and status() report.
// Pure: the controller hands over what it knows; times are wall-clock epoch ms (0 / undefined = not yet).

import type { DrainStateName, DrainTrigger } from './lifecycle.js';

export interface DrainStatusInput {
  /** This process's random id: a peer reading the fleet tells itself from the others by it. */
  instance: string;
  /** This pod's release, when known (identity.version or rebalance.version): peers compare it. */
  version: string | undefined;
  state: DrainStateName;
  trigger: DrainTrigger | undefined;
  terminating: boolean;
  connections: number;
  /** When the drain was triggered; 0 while serving. */
  startedAt: number;
  /** This drain's span (the budget's unless the request shortened it). */
  propagationDelayMs: number;
  drainWindowMs: number;
  closeTimeoutMs: number;
  /** When closing actually started. */
  closingAt: number | undefined;
  holding: boolean;
  /** Rebalancing's view of the fleet, when it is on: the share this pod believes in (null: unknown) and the pods. */
  rebalance?: { share: number; pods: number } | undefined;
}

export function drainStatus(input: DrainStatusInput): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  const started = input.startedAt || undefined;
  const { propagationDelayMs, drainWindowMs, closeTimeoutMs } = input;
  return {
    instance: input.instance,
    ...(input.version === undefined ? {} : { version: input.version }),
    state: input.state,
    trigger: input.trigger ?? null,
    terminating: input.terminating,
    connections: input.connections,
    startedAt: iso(started),
    // The earliest closing can start (trigger + propagation delay); a hold may start it later.
    plannedClosingAt: iso(started && started + propagationDelayMs),
    // When closing actually started; null before.
    closingAt: iso(input.closingAt),
    holding: input.holding,
    deadlineAt: iso(started && started + propagationDelayMs + drainWindowMs + closeTimeoutMs),
    ...(input.rebalance
      ? {
          rebalance: {
            share: Number.isFinite(input.rebalance.share) ? Math.round(input.rebalance.share * 10) / 10 : null,
            pods: input.rebalance.pods,
          },
        }
      : {}),
  };
}
