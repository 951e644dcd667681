// What one drain did, counted as it happens: the report a drain resolves with, the counters the metrics read,
// and the pacing record (closes and hints per second of the closing phase). The controller decides; this
// file only counts.

import type { AdmissionCounts } from './admission-control.js';
import type { DrainStateName, DrainTrigger } from './lifecycle.js';
import type { DrainCounters } from './metrics.js';
import type { RebalanceCounts } from './rebalancer.js';
import type { HoldReport } from './rollout-hold.js';

export interface DrainReport {
  readonly trigger: DrainTrigger;
  /** Whether the pod was being deleted (signal/preStop) rather than drained by hand. */
  readonly terminating: boolean;
  /** Epoch ms of the trigger, of the actual start of closing (undefined if it never started), and of drained. */
  readonly startedAt: number;
  readonly closingAt: number | undefined;
  readonly drainedAt: number;
  /** Connections open when closing began (or when destroy() ran). */
  readonly connectionsAtClosing: number;
  readonly closed: number;
  readonly hinted: number;
  /**
   * Connections given their close or hint in each second of the closing phase (index 0 = its first second),
   * as this process made them. A hinted connection closed later at its deadline counts once, at its hint.
   */
  readonly perSecond: readonly number[];
  readonly terminated: number;
  readonly refusedUpgrades: number;
  /** True when destroy() ended the drain. */
  readonly forced: boolean;
  /** True when a signal (SIGTERM) arrived before the drain ended, whatever started it. */
  readonly signalled: boolean;
  /** True when a manual drain was cancelled (`cancel()`, DELETE on the admin drain path) before it ended. */
  readonly cancelled: boolean;
  /** The rollout-aware hold of a terminating drain with a `rolloutHold` hook; undefined otherwise. */
  readonly hold: HoldReport | undefined;
}

/** What the controller knows of a drain that the counters do not. */
export interface DrainFacts {
  readonly trigger: DrainTrigger | undefined;
  readonly terminating: boolean;
  readonly startedAt: number;
  readonly forced: boolean;
  readonly signalled: boolean;
  readonly cancelled: boolean;
  readonly hold: HoldReport | undefined;
}

type Totals = { closed: number; hinted: number; terminated: number; refusedUpgrades: number };

export class DrainRecord {
  /** Totals since the controller was made (the metrics are counters); a report subtracts `#base`. */
  accepted = 0;
  closed = 0;
  hinted = 0;
  terminated = 0;
  refusedUpgrades = 0;
  /** Protocol v1 resume tokens opened / refused, since start. */
  resumed = 0;
  resumeRefused = 0;
  /** The window of the closing phase, in ms (0 before it). */
  windowMs = 0;
  /** Connections open when closing began. */
  connectionsAtClosing = 0;
  /** Epoch ms at which closing actually started; undefined before. */
  closingAt: number | undefined;
  /** Monotonic time at which closing started; 0 before. */
  closingStartedAt = 0;
  readonly #perSecond: number[] = [];
  /** The totals when the current drain began: a report counts one drain (a cancelled one can be followed by another). */
  #base: Totals = { closed: 0, hinted: 0, terminated: 0, refusedUpgrades: 0 };

  /** A new drain begins (or a cancelled one ends): forget the per-drain part. */
  reset(): void {
    this.connectionsAtClosing = 0;
    this.closingAt = undefined;
    this.closingStartedAt = 0;
    this.windowMs = 0;
    this.#perSecond.length = 0;
    this.#base = {
      closed: this.closed,
      hinted: this.hinted,
      terminated: this.terminated,
      refusedUpgrades: this.refusedUpgrades,
    };
  }

  closingStarted(connections: number, now: number, windowMs: number): void {
    this.windowMs = windowMs;
    this.connectionsAtClosing = connections;
    this.closingAt = Date.now();
    this.closingStartedAt = now;
  }

  /** One connection got its close or its hint now, in the closing phase. */
  countEnded(now: number): void {
    const second = Math.floor((now - this.closingStartedAt) / 1000);
    while (this.#perSecond.length <= second) this.#perSecond.push(0);
    this.#perSecond[second] = (this.#perSecond[second] as number) + 1;
  }

  report(facts: DrainFacts): DrainReport {
    return {
      trigger: facts.trigger ?? 'api',
      terminating: facts.terminating,
      startedAt: facts.startedAt,
      closingAt: this.closingAt,
      drainedAt: Date.now(),
      connectionsAtClosing: this.connectionsAtClosing,
      closed: this.closed - this.#base.closed,
      hinted: this.hinted - this.#base.hinted,
      perSecond: [...this.#perSecond],
      terminated: this.terminated - this.#base.terminated,
      refusedUpgrades: this.refusedUpgrades - this.#base.refusedUpgrades,
      forced: facts.forced,
      signalled: facts.signalled,
      cancelled: facts.cancelled,
      hold: facts.hold,
    };
  }

  counters(live: {
    connections: number;
    state: DrainStateName;
    startedAt: number;
    hold: { holdSeconds: number; holdOutcome: string | undefined } | undefined;
    admission: AdmissionCounts | undefined;
    rebalance: RebalanceCounts | undefined;
  }): DrainCounters {
    return {
      connections: live.connections,
      state: live.state,
      accepted: this.accepted,
      refusedUpgrades: this.refusedUpgrades,
      closed: this.closed,
      hinted: this.hinted,
      terminated: this.terminated,
      drainStartedAtSeconds: live.startedAt / 1000,
      connectionsAtClosing: this.connectionsAtClosing,
      windowSeconds: this.windowMs / 1000,
      resumed: this.resumed,
      resumeRefused: this.resumeRefused,
      admission: live.admission,
      rebalance: live.rebalance,
      ...(live.hold ?? { holdSeconds: 0, holdOutcome: undefined }),
    };
  }
}
