// The primary process of a pod that runs several gateway processes: its DrainController has the pod's signals,
// admin server, budget and rollout hold, and no connections of its own; PodWorkers tells the workers (joinPod)
// to close when its closing phase starts, over the same window, so the pod's closes are paced as one, and sums
// their reports into the pod's readiness, status and metrics. The controller is drained once every worker
// told to close reported its drain done, or exited.

import { EventEmitter } from 'node:events';
import type { DrainController } from './drain-controller.js';
import { EMPTY_TOTALS, isPodMessage, type PodCommand, type PodTotals, sumTotals, validTotals } from './pod-messages.js';

/** A worker process as the primary sees it: a node:cluster Worker, or a ChildProcess with an IPC channel. */
export interface PodMember {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** What a DrainController asks of the workers of its pod. */
export interface WorkerGroup {
  totals(): PodTotals;
  /** Some worker told to close has not finished yet. */
  pending(): boolean;
  /** `maxClosesPerSecond`: the pod's cap, shared among the workers (Infinity: none). */
  close(windowMs: number, terminating: boolean, maxClosesPerSecond: number): void;
  cancel(): void;
  terminate(): void;
}

interface MemberState {
  totals: PodTotals;
  /** Told to close and not drained yet. */
  closing: boolean;
}

/** Emits 'change' whenever a worker's report or exit changed the pod's totals. */
export class PodWorkers extends EventEmitter implements WorkerGroup {
  readonly #members = new Map<PodMember, MemberState>();
  readonly #changed: () => void;
  /** The close under way: its end (performance.now()), kind and the pod's cap, for a worker added meanwhile. */
  #closing: { endsAt: number; terminating: boolean; maxClosesPerSecond: number } | undefined;

  constructor(controller: DrainController) {
    super();
    const changed = controller.attachWorkers(this);
    this.#changed = () => {
      changed();
      this.emit('change');
    };
  }

  /** A worker process of this pod (forked by your primary). Its exit removes it and what it held. */
  add(member: PodMember): this {
    if (this.#members.has(member)) return this;
    const state: MemberState = { totals: { ...EMPTY_TOTALS }, closing: false };
    this.#members.set(member, state);
    member.on('message', (message: unknown) => {
      if (!isPodMessage(message) || message.op !== 'report') return;
      const report = message as unknown as { totals?: unknown; drained?: unknown };
      const totals = validTotals(report.totals);
      if (!totals) return;
      state.totals = totals;
      if (report.drained === true) state.closing = false;
      this.#changed();
    });
    // A send to a worker that just died fails with EPIPE as an event: its 'exit' follows and removes it.
    member.on('error', () => {});
    member.on('exit', () => {
      this.#members.delete(member);
      this.#changed();
    });
    if (this.#closing) {
      // A worker added while closing holds nothing yet (it refuses upgrades from now on): an even share.
      const { endsAt, terminating, maxClosesPerSecond } = this.#closing;
      state.closing = true;
      this.#send(member, {
        baton: 'pod',
        op: 'close',
        windowMs: Math.max(0, endsAt - performance.now()),
        terminating,
        ...capOf(maxClosesPerSecond / this.#members.size),
      });
    }
    return this;
  }

  get size(): number {
    return this.#members.size;
  }

  totals(): PodTotals {
    return sumTotals([...this.#members.values()].map((state) => state.totals));
  }

  pending(): boolean {
    for (const state of this.#members.values()) if (state.closing) return true;
    return false;
  }

  close(windowMs: number, terminating: boolean, maxClosesPerSecond: number): void {
    this.#closing = { endsAt: performance.now() + windowMs, terminating, maxClosesPerSecond };
    // The cap is shared in proportion to what each worker holds (as last reported; one share at least), so every
    // worker needs the same time at its share and the pod as a whole closes at the cap.
    let shares = 0;
    for (const state of this.#members.values()) shares += Math.max(1, state.totals.connections);
    for (const [member, state] of this.#members) {
      state.closing = true;
      const share = Math.max(1, state.totals.connections) / shares;
      this.#send(member, { baton: 'pod', op: 'close', windowMs, terminating, ...capOf(maxClosesPerSecond * share) });
    }
  }

  cancel(): void {
    this.#closing = undefined;
    for (const [member, state] of this.#members) {
      state.closing = false;
      this.#send(member, { baton: 'pod', op: 'cancel' });
    }
  }

  terminate(): void {
    for (const [member, state] of this.#members) {
      state.closing = false;
      this.#send(member, { baton: 'pod', op: 'terminate' });
    }
  }

  #send(member: PodMember, command: PodCommand): void {
    try {
      member.send(command);
    } catch {
      // A worker whose channel closed is exiting: its 'exit' removes it.
    }
  }
}

/** A cap as the close command carries it: none when infinite (JSON has no Infinity). */
function capOf(maxClosesPerSecond: number): { maxClosesPerSecond?: number } {
  return Number.isFinite(maxClosesPerSecond) ? { maxClosesPerSecond } : {};
}
