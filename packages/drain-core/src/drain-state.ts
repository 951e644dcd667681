// The drain lifecycle of one process: serving → draining → closing → drained. States move forward, except
// that a manual drain (a pod that stays) can be cancelled back to serving before it is drained.

import type { DrainReport } from './drain-record.js';
import { codedError, ErrorCodes } from './errors.js';
import { describe, durationOption } from './option-checks.js';
import type { TrackedConnection } from './tracked-connection.js';

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

export interface StateChange {
  readonly from: DrainStateName;
  readonly to: DrainStateName;
  readonly trigger: DrainTrigger | undefined;
}

export interface DrainControllerEvents {
  state: [StateChange];
  drained: [DrainReport];
  connection: [TrackedConnection];
}

export interface DrainRequest {
  /** Default 'api'. */
  trigger?: DrainTrigger;
  /** For trigger 'api': whether the pod is being deleted (readiness keeps passing). Default true. */
  terminating?: boolean;
  /**
   * Nothing new can reach this server any more (its own listener is closing, as in fastify.close()): start
   * closing at once instead of after the propagation delay, and without a rollout hold. Default false.
   */
  skipPropagationDelay?: boolean;
  /** A shorter drain window for this drain only, in ms (never longer than the budget's). */
  drainWindowMs?: number;
}

const TRIGGERS: readonly DrainTrigger[] = ['signal', 'prestop', 'admin', 'api'];

export interface ResolvedDrainRequest {
  readonly trigger: DrainTrigger;
  readonly terminating: boolean;
  readonly skipPropagationDelay: boolean;
  readonly drainWindowMs: number | undefined;
}

/** Validate a drain() request up front, with the same coded errors as the options. */
export function resolveDrainRequest(request: DrainRequest): ResolvedDrainRequest {
  if (typeof request !== 'object' || request === null) {
    throw codedError(
      TypeError,
      ErrorCodes.INVALID_OPTION,
      'drain() takes an optional object: { trigger, terminating, skipPropagationDelay, drainWindowMs }.',
    );
  }
  const trigger = request.trigger ?? 'api';
  if (!TRIGGERS.includes(trigger)) {
    throw codedError(
      TypeError,
      ErrorCodes.INVALID_OPTION,
      `drain(): "trigger" must be one of ${TRIGGERS.join(', ')}; received ${describe(trigger)}.`,
    );
  }
  for (const name of ['terminating', 'skipPropagationDelay'] as const) {
    if (request[name] !== undefined && typeof request[name] !== 'boolean') {
      throw codedError(
        TypeError,
        ErrorCodes.INVALID_OPTION,
        `drain(): "${name}" must be true or false; received ${describe(request[name])}.`,
      );
    }
  }
  return {
    trigger,
    terminating: request.terminating ?? trigger !== 'admin',
    skipPropagationDelay: request.skipPropagationDelay ?? false,
    drainWindowMs:
      request.drainWindowMs === undefined ? undefined : durationOption('drainWindowMs', request.drainWindowMs, 0),
  };
}
