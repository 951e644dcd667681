// The closing phase of a drain: each open connection gets a time in the window (close-slots.ts), and at
// that time a hint if it can move itself, a close with 1012 otherwise. One TimerQueue carries every due time,
// hint deadline and close-handshake timeout, so 20k connections cost one armed timer.

import type { WebSocket } from 'ws';
import { buildClosingPlan, shuffle } from './close-slots.js';
import type { DrainRecord } from './drain-record.js';
import type { ResolvedDrainOptions } from './options.js';
import { TimerQueue } from './timer-queue.js';
import {
  type ConnectionFlags,
  isCapable,
  phaseOf,
  type SendHint,
  trackedConnection,
  withPhase,
} from './tracked-connection.js';

/** WebSocket close code 1012 (Service Restart): server-only, and read by clients as "reconnect". */
export const CLOSE_CODE_SERVICE_RESTART = 1012;

type QueueItem = { kind: 'due' | 'hint-deadline' | 'terminate'; socket: WebSocket } | typeof PLAN_STEP;

/**
 * The closing plan is already in time order, so it sits in the queue one step at a time instead of as
 * 100k heap entries: starting to close 20k connections then costs a shuffle and one array of times.
 */
const PLAN_STEP = { kind: 'plan' } as const;

interface ClosingPlan {
  readonly sockets: WebSocket[];
  /** Monotonic times, ascending, one per connection. */
  readonly times: Float64Array;
  next: number;
}

export interface ClosingPhaseHost {
  readonly options: ResolvedDrainOptions;
  /** The controller's connection table; this phase updates phases in it, never adds or removes. */
  readonly connections: Map<WebSocket, ConnectionFlags>;
  readonly record: DrainRecord;
  readonly sendHint: SendHint | undefined;
  /** True while the drain is in its closing state (false once cancelled or drained). */
  isClosing(): boolean;
}

export class ClosingPhase {
  readonly #host: ClosingPhaseHost;
  readonly #queue: TimerQueue<QueueItem>;
  #plan: ClosingPlan | undefined;
  /** Monotonic end of the window: every connection has its close or hint by then. */
  #windowEnd = 0;
  /** How long a hinted connection has to move before it is closed (see begin()). */
  #hintLeadMs = 0;

  constructor(host: ClosingPhaseHost) {
    this.#host = host;
    this.#queue = new TimerQueue<QueueItem>({
      run: (item) => this.#run(item),
      onError: (error) => host.options.logger.error({ err: String(error) }, 'baton: scheduled close failed'),
    });
  }

  get windowEnd(): number {
    return this.#windowEnd;
  }

  /** Plan every open connection's time in [now, windowEnd], at most `maxClosesPerSecond` (this drain's cap). */
  begin(now: number, windowEnd: number, maxClosesPerSecond: number): void {
    const { options, connections, sendHint } = this.#host;
    const windowMs = Math.max(0, windowEnd - now);
    this.#windowEnd = windowEnd;
    // A hinted connection gets hintTimeoutMs to move, or a tenth of the window when that is shorter, and its
    // close deadline is its own hint time plus that lead: deadlines keep the hints' spread instead of piling up
    // at the window's end. So the hinted part of the plan ends one lead early (hints then run at most 1.11 ×
    // the even rate; a longer lead would buy time to move with a faster hint rate).
    this.#hintLeadMs = sendHint ? Math.min(options.hintTimeoutMs, windowMs / 10) : 0;
    const open = shuffle([...connections.keys()], options.random);
    const { order, offsets } = buildClosingPlan(
      open,
      (socket) => sendHint !== undefined && isCapable(connections.get(socket) ?? 0),
      windowMs,
      {
        hintLeadMs: this.#hintLeadMs,
        maxClosesPerSecond,
        jitter: options.jitter,
        random: options.random,
      },
    );
    if (open.length > 0 && (offsets[open.length - 1] as number) > windowMs) {
      options.logger.warn(
        { connections: open.length, maxClosesPerSecond, drainWindowMs: windowMs },
        'baton: maxClosesPerSecond cannot close every connection inside the window; the rest close at its end',
      );
    }
    for (let i = 0; i < offsets.length; i++) offsets[i] = now + (offsets[i] as number);
    this.#plan = { sockets: order, times: offsets, next: 0 };
    if (open.length > 0) this.#queue.schedule(offsets[0] as number, PLAN_STEP);
  }

  /** A connection accepted after closing began (an async verifyClient finished late): a time in what is left. */
  acceptedLate(socket: WebSocket): void {
    const now = performance.now();
    const at = now + this.#host.options.random() * Math.max(0, this.#windowEnd - now);
    this.#queue.schedule(at, { kind: 'due', socket });
  }

  /** End of the window: whatever is not closing yet gets 1012 now. */
  closeRemaining(): void {
    let late = 0;
    for (const [socket, flags] of this.#host.connections) {
      if (phaseOf(flags) !== 'closing') {
        late++;
        this.close(socket);
      }
    }
    if (late > 0) this.#host.options.logger.info({ connections: late }, 'baton: window ended; closed the rest');
  }

  /** Stop planned closes (a cancelled drain); hints already sent keep their deadline, closes their timeout. */
  stopPlan(): void {
    this.#plan = undefined;
  }

  /** Forget everything scheduled (drained or destroyed). */
  clear(): void {
    this.#plan = undefined;
    this.#queue.clear();
  }

  close(socket: WebSocket): void {
    const { connections, record, options } = this.#host;
    const flags = connections.get(socket) ?? 0;
    // A hinted connection was counted at its hint.
    if (phaseOf(flags) === 'open' && this.#host.isClosing()) record.countEnded(performance.now());
    connections.set(socket, withPhase(flags, 'closing'));
    record.closed++;
    socket.close(CLOSE_CODE_SERVICE_RESTART, options.closeReason);
    this.#queue.schedule(performance.now() + options.budget.closeTimeoutMs, { kind: 'terminate', socket });
  }

  #run(item: QueueItem): void {
    if (item.kind === 'plan') return this.#runPlanStep();
    const { kind, socket } = item;
    const flags = this.#host.connections.get(socket);
    if (flags === undefined) return;
    if (kind === 'terminate') {
      this.#host.record.terminated++;
      this.#host.options.logger.debug({}, 'baton: close handshake timed out; terminating');
      socket.terminate();
    } else if (kind === 'due') {
      this.#due(socket);
    } else if (phaseOf(flags) !== 'closing') {
      this.close(socket);
    }
  }

  #runPlanStep(): void {
    const plan = this.#plan;
    if (!plan) return;
    const socket = plan.sockets[plan.next] as WebSocket;
    plan.next++;
    if (plan.next < plan.sockets.length) this.#queue.schedule(plan.times[plan.next] as number, PLAN_STEP);
    this.#due(socket);
  }

  /** A connection's scheduled time: hint it if it can move itself, otherwise close it with 1012. */
  #due(socket: WebSocket): void {
    const { connections, sendHint, options, record } = this.#host;
    const flags = connections.get(socket);
    // Not closing any more: the drain was cancelled.
    if (flags === undefined || phaseOf(flags) !== 'open' || !this.#host.isClosing()) return;
    if (isCapable(flags) && sendHint) {
      const now = performance.now();
      const hintDeadline = Math.min(now + this.#hintLeadMs, this.#windowEnd);
      if (hintDeadline > now) {
        let sent = false;
        try {
          const context = { deadlineAt: Date.now() + (hintDeadline - now), reason: options.closeReason };
          sent = sendHint(trackedConnection(socket, flags), context) === true;
        } catch (error) {
          options.logger.error({ err: String(error) }, 'baton: sendHint threw; closing the connection instead');
        }
        if (sent) {
          connections.set(socket, withPhase(flags, 'hinted'));
          record.hinted++;
          record.countEnded(now);
          this.#queue.schedule(hintDeadline, { kind: 'hint-deadline', socket });
          return;
        }
      }
    }
    this.close(socket);
  }
}
