// Admission control: a per-pod cap on accepted upgrades per second, so that the clients of a pod that died
// at once (an OOM kill, a lost node, a spot preemption) do not all land on the survivors in the same second.
// A token bucket per kind of upgrade: fresh connections, and Baton clients whose resume token opened (moves
// and resumes get their own allowance, so a storm of fresh connects cannot starve the sessions that can be
// restored cheaply). The excess is refused before the upgrade (503 + a jittered Retry-After), never after
// accepting it.

import type { IncomingMessage } from 'node:http';

export interface AdmissionOptions {
  /** Fresh upgrades accepted per second, sustained. */
  maxAcceptsPerSecond: number;
  /** How many may arrive at once after a quiet spell. Default: one second's worth. */
  burst?: number;
  /**
   * Upgrades that carried a resume token this pod opened: their own bucket, at this rate. Default: the same as
   * maxAcceptsPerSecond (so during a storm resumes and fresh connects each get their share).
   */
  resumeAcceptsPerSecond?: number;
  /** Retry-After of a refusal is drawn uniformly from 1 … this, so refused clients do not come back together. Default 5. */
  maxRetryAfterSeconds?: number;
}

export type AdmissionKind = 'fresh' | 'resume';

export type AdmissionDecision = { admitted: true } | { admitted: false; retryAfterSeconds: number };

/** Tokens refill at `rate` per second up to `burst`; an upgrade takes one. Time is monotonic ms. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  constructor(rate: number, burst: number, now: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export interface AdmissionCounts {
  admitted: Record<AdmissionKind, number>;
  refused: Record<AdmissionKind, number>;
}

export class AdmissionControl {
  readonly counts: AdmissionCounts = { admitted: { fresh: 0, resume: 0 }, refused: { fresh: 0, resume: 0 } };
  readonly #buckets: Record<AdmissionKind, TokenBucket>;
  readonly #maxRetryAfterSeconds: number;
  readonly #random: () => number;

  constructor(options: Required<AdmissionOptions>, random: () => number, now = performance.now()) {
    const resumeBurst = options.burst * (options.resumeAcceptsPerSecond / options.maxAcceptsPerSecond);
    this.#buckets = {
      fresh: new TokenBucket(options.maxAcceptsPerSecond, options.burst, now),
      resume: new TokenBucket(options.resumeAcceptsPerSecond, Math.max(1, resumeBurst), now),
    };
    this.#maxRetryAfterSeconds = options.maxRetryAfterSeconds;
    this.#random = random;
  }

  /** The upgrade gate's question for one request: a request whose resume token opened is a 'resume'. */
  gate(resumed: (request: IncomingMessage) => boolean): (request: IncomingMessage) => AdmissionDecision {
    return (request) => this.decide(resumed(request) ? 'resume' : 'fresh');
  }

  /** Admit an upgrade of this kind now, or say after how many seconds to retry. */
  decide(kind: AdmissionKind, now = performance.now()): AdmissionDecision {
    if (this.#buckets[kind].take(now)) {
      this.counts.admitted[kind]++;
      return { admitted: true };
    }
    this.counts.refused[kind]++;
    return { admitted: false, retryAfterSeconds: 1 + Math.floor(this.#random() * this.#maxRetryAfterSeconds) };
  }
}
