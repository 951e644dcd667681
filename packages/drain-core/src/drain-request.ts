// A request to drain (drain()'s argument, or a trigger's): validated and resolved once, up front.

import { codedError, ErrorCodes } from './errors.js';
import type { DrainTrigger } from './lifecycle.js';
import { describe, durationOption, positiveNumber } from './option-checks.js';

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
  /** A lower cap on closes per second for this drain only (never above the options' maxClosesPerSecond). */
  maxClosesPerSecond?: number;
}

const TRIGGERS: readonly DrainTrigger[] = ['signal', 'prestop', 'admin', 'api'];

export interface ResolvedDrainRequest {
  readonly trigger: DrainTrigger;
  readonly terminating: boolean;
  readonly skipPropagationDelay: boolean;
  readonly drainWindowMs: number | undefined;
  readonly maxClosesPerSecond: number | undefined;
}

/** Validate a drain() request up front, with the same coded errors as the options. */
export function resolveDrainRequest(request: DrainRequest): ResolvedDrainRequest {
  if (typeof request !== 'object' || request === null) {
    throw codedError(
      TypeError,
      ErrorCodes.INVALID_OPTION,
      'drain() takes an optional object: { trigger, terminating, skipPropagationDelay, drainWindowMs, maxClosesPerSecond }.',
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
    maxClosesPerSecond:
      request.maxClosesPerSecond === undefined
        ? undefined
        : positiveNumber('maxClosesPerSecond', request.maxClosesPerSecond, Number.POSITIVE_INFINITY),
  };
}
