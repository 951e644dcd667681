// The drain lifecycle of one process: serving → draining → closing → drained, and what starts a drain. States
// move forward, except that a manual drain (a pod that stays) can be cancelled back to serving before it is
// drained. A leaf module: every other part of the drain imports its states from here.

export const DrainState = {
  /** Accepting upgrades; nothing scheduled. */
  SERVING: 'serving',
  /** Drain triggered; still accepting upgrades while endpoint removal propagates (propagationDelayMs). */
  DRAINING: 'draining',
  /** Upgrades refused with 503; open connections are closed (or hinted) one by one over the drain window. */
  CLOSING: 'closing',
  /** Every tracked connection is gone. Terminal. */
  DRAINED: 'drained',
} as const;

export type DrainStateName = (typeof DrainState)[keyof typeof DrainState];

const ORDER: readonly DrainStateName[] = ['serving', 'draining', 'closing', 'drained'];

export function stateIndex(state: DrainStateName): number {
  return ORDER.indexOf(state);
}

/**
 * What started the drain. `signal` (SIGTERM) and `prestop` (GET on the admin drain path, the preStop hook)
 * mean the pod is being deleted; `admin` (POST on the drain path) means a pipeline drains a pod that stays.
 * `api` is a call to `drain()`, terminating unless told otherwise.
 */
export type DrainTrigger = 'signal' | 'prestop' | 'admin' | 'api';
