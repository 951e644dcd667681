// The drain of one process: tracks the connections of attached ws servers and walks the lifecycle
// serving → draining → closing → drained (DESIGN.md §4) on the first trigger: SIGTERM, the admin drain
// endpoint, or drain(). Later triggers never restart timers.

import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { AdminServer } from './admin-server.js';
import type { DrainBudget } from './budget.js';
import { buildClosingPlan, shuffle } from './close-schedule.js';
import { DrainState, type DrainStateName, type DrainTrigger, stateIndex } from './drain-state.js';
import { BatonError, codedError, ErrorCodes } from './errors.js';
import {
  BATON_PROTOCOL,
  encodeControl,
  type HintProtocolOptions,
  installProtocolFilter,
  offeredProtocols,
  offeredResumeToken,
  type ResumeResult,
} from './hint-protocol.js';
import { createDrainMetrics, type DrainCounters, type DrainMetrics, type MetricsRegistry } from './metrics.js';
import { type DrainOptions, type ResolvedDrainOptions, resolveDrainOptions } from './options.js';
import { type DrainTimes, drainTimes, type HoldReport, HoldRun, windowEndAt } from './rollout-hold.js';
import { TimerQueue } from './timer-queue.js';
import {
  type ConnectionFlags,
  connectionFlags,
  isCapable,
  phaseOf,
  type SendHint,
  type TrackedConnection,
  trackedConnection,
  withPhase,
} from './tracked-connection.js';
import { installUpgradeGate } from './upgrade-gate.js';

/** WebSocket close code 1012 (Service Restart): server-only, and read by clients as "reconnect". */
export const CLOSE_CODE_SERVICE_RESTART = 1012;

export interface DrainReport {
  readonly trigger: DrainTrigger;
  /** Whether the pod was being deleted (signal/preStop) rather than drained by hand. */
  readonly terminating: boolean;
  /** Epoch ms of the trigger, of the start of closing, and of drained. */
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
}

const stateChannel = channel('baton:drain-core:state');

type QueueItem = { kind: 'due' | 'deadline' | 'terminate'; socket: WebSocket } | typeof PLAN_STEP;

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

export class DrainController extends EventEmitter<DrainControllerEvents> {
  readonly options: ResolvedDrainOptions;
  readonly #connections = new Map<WebSocket, ConnectionFlags>();
  readonly #servers = new Map<WebSocketServer, () => void>();
  readonly #queue: TimerQueue<QueueItem>;
  #state: DrainStateName = DrainState.SERVING;
  #trigger: DrainTrigger | undefined;
  #terminating = false;
  #signalled = false;
  #startedAt = 0;
  #closingAt: number | undefined;
  /** Monotonic bounds of this drain, set at its trigger. */
  #times: DrainTimes | undefined;
  /** Monotonic start and end of the closing phase. */
  #closingStartedAt = 0;
  #windowEnd = 0;
  #hold: HoldRun | undefined;
  #phaseTimer: ReturnType<typeof setTimeout> | undefined;
  #plan: ClosingPlan | undefined;
  #connectionsAtClosing = 0;
  #accepted = 0;
  #closed = 0;
  /** Closes and hints per second of the closing phase, as this process made them (the pacing record). */
  readonly #endedPerSecond: number[] = [];
  #hinted = 0;
  #terminated = 0;
  #refusedUpgrades = 0;
  /** The counters when the current drain began: a report counts one drain (a cancelled one can be followed by another). */
  #base = { closed: 0, hinted: 0, terminated: 0, refusedUpgrades: 0 };
  #forced = false;
  #drained: Promise<DrainReport> | undefined;
  #resolveDrained: ((report: DrainReport) => void) | undefined;
  #admin: AdminServer | undefined;
  #metrics: DrainMetrics | undefined;
  #started: Promise<void> | undefined;
  #released: Promise<void> | undefined;
  readonly #isCapable: ((socket: WebSocket, request: IncomingMessage | undefined) => boolean) | undefined;
  readonly #sendHint: SendHint | undefined;
  readonly #resumes = new WeakMap<IncomingMessage, ResumeResult>();
  // ws emits 'close' with the socket as `this`; one function serves every connection.
  readonly #onSocketClose: (this: WebSocket) => void;
  readonly #signalHandler = (): void => {
    this.#signalled = true;
    this.#begin('signal', true);
  };

  constructor(options: DrainOptions = {}) {
    super();
    this.options = resolveDrainOptions(options);
    const protocol = this.options.hintProtocol;
    this.#isCapable = protocol
      ? (_socket, request) => offeredProtocols(request).includes(BATON_PROTOCOL)
      : this.options.isCapable;
    this.#sendHint = protocol ? this.#protocolHint(protocol) : this.options.sendHint;
    const controller = this;
    this.#onSocketClose = function onSocketClose(this: WebSocket) {
      controller.#untrack(this);
    };
    this.#queue = new TimerQueue<QueueItem>({
      run: (item) => this.#runScheduled(item),
      onError: (error) => this.options.logger.error({ err: String(error) }, 'baton: scheduled close failed'),
    });
  }

  get state(): DrainStateName {
    return this.#state;
  }

  get budget(): DrainBudget {
    return this.options.budget;
  }

  /** Open connections currently tracked. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The tracked connections (a snapshot). */
  connections(): TrackedConnection[] {
    return [...this.#connections].map(([socket, flags]) => trackedConnection(socket, flags));
  }

  /** Track the connections of a ws server (server or noServer mode) and gate its upgrades. */
  attach(server: WebSocketServer): this {
    if (!isWebSocketServer(server)) {
      throw codedError(TypeError, ErrorCodes.INVALID_SERVER, 'attach() needs a ws WebSocketServer instance.');
    }
    if (this.#servers.has(server)) {
      throw new BatonError(
        ErrorCodes.INVALID_SERVER,
        'This WebSocketServer is already attached to this DrainController.',
      );
    }
    if (stateIndex(this.#state) >= stateIndex(DrainState.CLOSING)) {
      throw new BatonError(ErrorCodes.NOT_SERVING, `Cannot attach a server while the drain is ${this.#state}.`);
    }
    const onConnection = (socket: WebSocket, request: IncomingMessage) => this.#track(socket, request);
    // First in line, so the welcome precedes anything the app's own handler sends.
    server.prependListener('connection', onConnection);
    const protocol = this.options.hintProtocol;
    const removeGate = installUpgradeGate(server, {
      accepts: () => stateIndex(this.#state) < stateIndex(DrainState.CLOSING),
      ...(protocol ? { admit: (request: IncomingMessage) => this.#openResumeToken(request, protocol) } : {}),
      onRefused: () => {
        this.#refusedUpgrades++;
      },
      retryAfterSeconds: this.options.retryAfterSeconds,
    });
    const removeFilter = protocol ? installProtocolFilter(server) : undefined;
    this.#servers.set(server, () => {
      server.off('connection', onConnection);
      removeGate();
      removeFilter?.();
    });
    // Connections opened before attach() are drained too.
    for (const socket of server.clients ?? []) this.#track(socket, undefined);
    return this;
  }

  /**
   * With `hintProtocol`: what became of this upgrade's resume token. Call it from your 'connection' handler
   * with the request ws gives you; `{ resumed: true, state }` carries the state sealed by the old pod.
   */
  resumeOf(request: IncomingMessage): ResumeResult {
    return this.#resumes.get(request) ?? { resumed: false };
  }

  /** Stop tracking a server's new connections and remove its gate. Already tracked connections stay tracked. */
  detach(server: WebSocketServer): void {
    const remove = this.#servers.get(server);
    if (!remove) return;
    remove();
    this.#servers.delete(server);
  }

  /**
   * Start the admin server (when configured), install the signal handlers and load metrics.
   * Resolves once the admin server listens. Idempotent.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    for (const signal of this.options.signals) process.on(signal, this.#signalHandler);
    if (this.options.metrics) {
      this.#metrics = await createDrainMetrics(() => this.#counters(), this.options.metrics.registry);
      if (!this.#metrics && this.options.metrics.registry !== undefined) {
        this.options.logger.warn({}, 'baton: metrics.registry given but prom-client could not be imported');
      }
    }
    const admin = this.options.admin;
    if (admin) {
      this.#admin = new AdminServer({
        ...admin,
        logger: this.options.logger,
        target: {
          status: () => this.status(),
          isReady: () => this.isReady(),
          startDrain: (trigger) => {
            const alreadyDraining = this.#state !== DrainState.SERVING;
            this.#begin(trigger, trigger === 'prestop');
            return { alreadyDraining };
          },
          cancelDrain: () => this.cancel(),
          metricsRegistry: (): MetricsRegistry | undefined => this.#metrics?.registry,
        },
      });
      try {
        const address = await this.#admin.listen();
        this.options.logger.info({ address: address.address, port: address.port }, 'baton: admin server listening');
      } catch (error) {
        this.#removeSignalHandlers();
        throw error;
      }
    }
  }

  /** The admin server's address, once start() resolved. */
  adminAddress(): AddressInfo | undefined {
    return this.#admin?.address();
  }

  /** Readiness as the readiness endpoint reports it. */
  isReady(): boolean {
    if (this.#state === DrainState.SERVING) return true;
    return this.#terminating ? this.options.readyWhileTerminating : this.options.readyWhileManualDrain;
  }

  /** A JSON-friendly view of the drain, as the admin endpoints report it. */
  status(): Record<string, unknown> {
    const budget = this.options.budget;
    return {
      state: this.#state,
      trigger: this.#trigger ?? null,
      terminating: this.#terminating,
      connections: this.#connections.size,
      startedAt: this.#startedAt ? new Date(this.#startedAt).toISOString() : null,
      closingAt: this.#closingAt
        ? new Date(this.#closingAt).toISOString()
        : this.#startedAt
          ? new Date(this.#startedAt + budget.propagationDelayMs).toISOString()
          : null,
      holding: this.#hold?.pending === true,
      deadlineAt: this.#startedAt ? new Date(this.#startedAt + budget.worstCaseDrainMs).toISOString() : null,
    };
  }

  /**
   * Start the drain (if not started) and resolve with the report once drained. Idempotent: a later call
   * returns the same promise and never restarts a timer.
   */
  drain(request: DrainRequest = {}): Promise<DrainReport> {
    const trigger = request.trigger ?? 'api';
    const terminating = request.terminating ?? (trigger === 'signal' || trigger === 'prestop' || trigger === 'api');
    this.#begin(trigger, terminating);
    return this.#drainedPromise();
  }

  /** Resolves once drained, without starting anything. */
  whenDrained(): Promise<DrainReport> {
    return this.#drainedPromise();
  }

  /** Graceful: drain, then stop the admin server, signal handlers and gates. Idempotent. */
  async close(): Promise<DrainReport> {
    const report = await this.drain();
    await this.#release();
    return report;
  }

  /** Forced: terminate every connection now and release everything. Idempotent; never waits for clients. */
  async destroy(): Promise<DrainReport> {
    if (this.#state !== DrainState.DRAINED) {
      if (this.#state === DrainState.SERVING) {
        this.#trigger = 'api';
        this.#startedAt = Date.now();
      }
      this.#forced = true;
      this.#connectionsAtClosing ||= this.#connections.size;
      for (const socket of this.#connections.keys()) {
        this.#terminated++;
        socket.terminate();
      }
      this.#finish();
    }
    await this.#release();
    return this.#drainedPromise();
  }

  /**
   * Cancel a manual drain (a pod that stays): back to serving — readiness passes, upgrades are accepted, no
   * further connection is closed or hinted (those already closed or hinted go their way). A pending `drain()`
   * resolves with `cancelled: true`. Returns false, and changes nothing, while serving or for a terminating
   * drain (a pod being deleted cannot be un-deleted).
   */
  cancel(): boolean {
    if (this.#state === DrainState.SERVING || this.#terminating) return false;
    if (this.#phaseTimer !== undefined) clearTimeout(this.#phaseTimer);
    this.#phaseTimer = undefined;
    // Plan steps and due times stop here; close timeouts of connections already closing stay in the queue.
    this.#plan = undefined;
    this.#hold?.stop();
    const report = this.#report({ cancelled: true });
    this.options.logger.info({ ...report }, 'baton: drain cancelled; serving again');
    this.#resolveDrained?.(report);
    this.#drained = undefined;
    this.#resolveDrained = undefined;
    this.#setState(DrainState.SERVING);
    this.#trigger = undefined;
    this.#startedAt = 0;
    // Nothing of the cancelled drain may show in status() while serving (its closing time, its hold).
    this.#resetDrainRecord();
    return true;
  }

  #resetDrainRecord(): void {
    this.#closingAt = undefined;
    this.#closingStartedAt = 0;
    this.#windowEnd = 0;
    this.#hold = undefined;
    this.#connectionsAtClosing = 0;
    this.#endedPerSecond.length = 0;
    this.#base = {
      closed: this.#closed,
      hinted: this.#hinted,
      terminated: this.#terminated,
      refusedUpgrades: this.#refusedUpgrades,
    };
  }

  #report(extra: { cancelled: boolean }): DrainReport {
    return {
      trigger: this.#trigger ?? 'api',
      terminating: this.#terminating,
      startedAt: this.#startedAt,
      closingAt: this.#closingAt,
      drainedAt: Date.now(),
      connectionsAtClosing: this.#connectionsAtClosing,
      closed: this.#closed - this.#base.closed,
      hinted: this.#hinted - this.#base.hinted,
      perSecond: [...this.#endedPerSecond],
      terminated: this.#terminated - this.#base.terminated,
      refusedUpgrades: this.#refusedUpgrades - this.#base.refusedUpgrades,
      forced: this.#forced,
      signalled: this.#signalled,
      cancelled: extra.cancelled,
      hold: this.#hold?.report(this.#closingStartedAt, this.#windowEnd),
    };
  }

  #drainedPromise(): Promise<DrainReport> {
    this.#drained ??= new Promise<DrainReport>((resolve) => {
      this.#resolveDrained = resolve;
    });
    return this.#drained;
  }

  #begin(trigger: DrainTrigger, terminating: boolean): void {
    if (this.#state !== DrainState.SERVING) {
      // A pod drained by hand that then gets deleted becomes a termination drain (readiness, exit), but its
      // timers stay as they are.
      if (terminating && !this.#terminating) this.#terminating = true;
      this.options.logger.debug({ trigger, state: this.#state }, 'baton: drain already started; trigger ignored');
      return;
    }
    this.#trigger = trigger;
    this.#terminating = terminating;
    this.#startedAt = Date.now();
    this.#resetDrainRecord();
    const budget = this.options.budget;
    this.options.logger.info(
      { trigger, terminating, connections: this.#connections.size, ...budgetLog(budget) },
      'baton: drain started',
    );
    this.#setState(DrainState.DRAINING);
    this.#times = drainTimes(performance.now(), budget, this.options.minWindowShare);
    // Only a pod being deleted can be part of a rollout; a manual drain never waits for other pods.
    if (terminating && this.options.rolloutHold) {
      this.#hold = new HoldRun(this.options.rolloutHold, {
        times: this.#times,
        propagationDelayMs: budget.propagationDelayMs,
        logger: this.options.logger,
        onSettled: () => this.#scheduleClosing(),
      });
    }
    this.#scheduleClosing();
  }

  /** (Re)arm the one phase timer for the start of closing, from what the hold knows now. */
  #scheduleClosing(): void {
    const times = this.#times;
    if (!times || this.#state !== DrainState.DRAINING) return;
    if (this.#phaseTimer !== undefined) clearTimeout(this.#phaseTimer);
    this.#atTime(this.#hold?.closingStartAt() ?? times.propagatedAt, () => this.#startClosing());
  }

  /**
   * Run `fn` at monotonic time `at`, never before: setTimeout counts from the loop's cached clock and can
   * fire a millisecond early, and "no close before t0 + propagation" is a promise.
   */
  #atTime(at: number, fn: () => void): void {
    const check = () => {
      const remaining = at - performance.now();
      if (remaining > 0) {
        this.#phaseTimer = setTimeout(check, Math.ceil(remaining));
      } else {
        this.#phaseTimer = undefined;
        fn();
      }
    };
    check();
  }

  #startClosing(): void {
    const budget = this.options.budget;
    const now = performance.now();
    const times = this.#times as DrainTimes;
    const groupWindowEnd = this.#hold?.begin(now, budget);
    const windowEnd = windowEndAt(times, now, budget.drainWindowMs * this.options.minWindowShare, groupWindowEnd);
    const drainWindowMs = Math.max(0, windowEnd - now);
    this.#closingAt = Date.now();
    this.#closingStartedAt = now;
    this.#windowEnd = windowEnd;
    this.#setState(DrainState.CLOSING);
    const open = shuffle([...this.#connections.keys()], this.options.random);
    this.#connectionsAtClosing = open.length;
    // Hinted connections need time to move before the window closes: their part of the plan ends
    // hintTimeoutMs (at most a tenth of the window) early.
    const hintLeadMs = this.#sendHint ? Math.min(this.options.hintTimeoutMs, drainWindowMs / 10) : 0;
    const { order, offsets } = buildClosingPlan(
      open,
      (socket) => this.#sendHint !== undefined && isCapable(this.#connections.get(socket) ?? 0),
      drainWindowMs,
      {
        hintLeadMs,
        maxClosesPerSecond: this.options.maxClosesPerSecond,
        jitter: this.options.jitter,
        random: this.options.random,
      },
    );
    if (open.length > 0 && (offsets[open.length - 1] as number) > drainWindowMs) {
      this.options.logger.warn(
        {
          connections: open.length,
          maxClosesPerSecond: this.options.maxClosesPerSecond,
          drainWindowMs,
        },
        'baton: maxClosesPerSecond cannot close every connection inside the window; the rest close at its end',
      );
    }
    for (let i = 0; i < offsets.length; i++) offsets[i] = now + (offsets[i] as number);
    this.#plan = { sockets: order, times: offsets, next: 0 };
    if (open.length > 0) this.#queue.schedule(offsets[0] as number, PLAN_STEP);
    this.options.logger.info(
      { connections: open.length, drainWindowMs, heldMs: Math.max(0, now - times.propagatedAt) },
      'baton: closing',
    );
    this.#atTime(this.#windowEnd, () => this.#closeRemaining());
    if (this.#connections.size === 0) this.#finish();
  }

  /** End of the window: whatever is still open gets 1012 now. */
  #closeRemaining(): void {
    let late = 0;
    for (const [socket, flags] of this.#connections) {
      if (phaseOf(flags) !== 'closing') {
        late++;
        this.#close(socket);
      }
    }
    if (late > 0) this.options.logger.info({ connections: late }, 'baton: window ended; closed the rest');
  }

  #runScheduled(item: QueueItem): void {
    if (item.kind === 'plan') return this.#runPlanStep();
    const { kind, socket } = item;
    const flags = this.#connections.get(socket);
    if (flags === undefined) return;
    if (kind === 'terminate') {
      this.#terminated++;
      this.options.logger.debug({}, 'baton: close handshake timed out; terminating');
      socket.terminate();
      return;
    }
    if (kind === 'due') return this.#due(socket);
    if (phaseOf(flags) !== 'closing') this.#close(socket);
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
    const flags = this.#connections.get(socket);
    // Not closing any more: the drain was cancelled.
    if (flags === undefined || phaseOf(flags) !== 'open' || this.#state !== DrainState.CLOSING) return;
    if (isCapable(flags) && this.#sendHint) {
      const now = performance.now();
      const deadline = Math.min(now + this.options.hintTimeoutMs, this.#windowEnd);
      if (deadline > now) {
        let sent = false;
        try {
          sent =
            this.#sendHint(trackedConnection(socket, flags), {
              deadlineAt: Date.now() + (deadline - now),
              reason: this.options.closeReason,
            }) === true;
        } catch (error) {
          this.options.logger.error({ err: String(error) }, 'baton: sendHint threw; closing the connection instead');
        }
        if (sent) {
          this.#connections.set(socket, withPhase(flags, 'hinted'));
          this.#hinted++;
          this.#countEnded();
          this.#queue.schedule(deadline, { kind: 'deadline', socket });
          return;
        }
      }
    }
    this.#close(socket);
  }

  #countEnded(): void {
    if (this.#state !== DrainState.CLOSING) return;
    const second = Math.floor((performance.now() - this.#closingStartedAt) / 1000);
    while (this.#endedPerSecond.length <= second) this.#endedPerSecond.push(0);
    this.#endedPerSecond[second] = (this.#endedPerSecond[second] as number) + 1;
  }

  #close(socket: WebSocket): void {
    const flags = this.#connections.get(socket) ?? 0;
    // A hinted connection was counted at its hint.
    if (phaseOf(flags) === 'open') this.#countEnded();
    this.#connections.set(socket, withPhase(flags, 'closing'));
    this.#closed++;
    socket.close(CLOSE_CODE_SERVICE_RESTART, this.options.closeReason);
    this.#queue.schedule(performance.now() + this.options.budget.closeTimeoutMs, { kind: 'terminate', socket });
  }

  #track(socket: WebSocket, request: IncomingMessage | undefined): void {
    if (this.#connections.has(socket)) return;
    let capable = false;
    if (this.#isCapable) {
      try {
        capable = this.#isCapable(socket, request) === true;
      } catch (error) {
        this.options.logger.error({ err: String(error) }, 'baton: isCapable threw; treating the connection as plain');
      }
    }
    const flags = connectionFlags('open', capable);
    this.#connections.set(socket, flags);
    this.#accepted++;
    if (capable && this.options.hintProtocol) {
      // Sent before the app's handler can send anything (our listener is prepended), so the client can
      // switch on it.
      const resume = request ? this.#resumes.get(request) : undefined;
      socket.send(
        encodeControl({
          t: 'welcome',
          v: 1,
          resumed: resume?.resumed === true,
          ...(resume && !resume.resumed && resume.error ? { resumeError: resume.error } : {}),
        }),
      );
    }
    // One shared listener, not a closure per connection: memory per idle connection is a benchmarked goal.
    socket.on('close', this.#onSocketClose);
    if (this.#state === DrainState.CLOSING) {
      // Accepted across the boundary (an async verifyClient finished late): give it a time in what is left.
      const now = performance.now();
      this.#queue.schedule(now + this.options.random() * Math.max(0, this.#windowEnd - now), {
        kind: 'due',
        socket,
      });
    } else if (this.#state === DrainState.DRAINED) {
      this.#close(socket);
    }
    if (this.listenerCount('connection') > 0) this.emit('connection', trackedConnection(socket, flags));
  }

  async #openResumeToken(request: IncomingMessage, protocol: HintProtocolOptions): Promise<void> {
    const token = offeredResumeToken(request);
    if (token === undefined) return;
    if (!protocol.handoff) {
      this.#resumes.set(request, { resumed: false, error: ErrorCodes.RESUME_UNSUPPORTED });
      return;
    }
    try {
      const state = await protocol.handoff.open(token);
      this.#resumes.set(request, { resumed: true, state });
    } catch (error) {
      // The code only: a token is a bearer secret and never goes to a log.
      const code =
        typeof (error as { code?: unknown })?.code === 'string'
          ? (error as { code: string }).code
          : ErrorCodes.TOKEN_MALFORMED;
      this.#resumes.set(request, { resumed: false, error: code });
      this.options.logger.info({ code }, 'baton: resume token refused; starting a fresh session');
    }
  }

  /** The sendHint of protocol v1: a reconnect message, with a resume token when a handoff is configured. */
  #protocolHint(protocol: HintProtocolOptions): SendHint {
    return (connection, { deadlineAt, reason }) => {
      const socket = connection.socket;
      const send = (token?: string) => {
        if (socket.readyState !== socket.OPEN) return;
        socket.send(encodeControl({ t: 'reconnect', v: 1, deadline: deadlineAt, reason, ...(token ? { token } : {}) }));
      };
      const { handoff, snapshot } = protocol;
      if (!handoff || !snapshot) {
        send();
        return true;
      }
      let state: unknown;
      try {
        state = snapshot(socket);
      } catch (error) {
        this.options.logger.error({ err: String(error) }, 'baton: snapshot threw; hinting without a resume token');
        send();
        return true;
      }
      Promise.resolve()
        .then(() => handoff.seal(state))
        .then(
          (token) => send(token),
          (error: unknown) => {
            this.options.logger.error(
              { code: (error as { code?: string })?.code, err: String(error) },
              'baton: sealing failed; hinting without a resume token',
            );
            send();
          },
        );
      return true;
    };
  }

  #untrack(socket: WebSocket): void {
    if (!this.#connections.delete(socket)) return;
    if (this.#state === DrainState.CLOSING && this.#connections.size === 0) this.#finish();
  }

  #finish(): void {
    if (this.#state === DrainState.DRAINED) return;
    if (this.#phaseTimer !== undefined) clearTimeout(this.#phaseTimer);
    this.#phaseTimer = undefined;
    this.#queue.clear();
    this.#plan = undefined;
    this.#hold?.stop();
    const report = this.#report({ cancelled: false });
    this.#setState(DrainState.DRAINED);
    this.options.logger.info({ ...report }, 'baton: drained');
    this.#drainedPromise();
    this.#resolveDrained?.(report);
    this.emit('drained', report);
    if (this.#shouldExit()) void this.#exit(report);
  }

  /**
   * The exit policy, in one place: only a drain of a pod being deleted ends the process (never a manual
   * drain, never destroy()): after a signal by default, or after any terminating drain with 'always'.
   */
  #shouldExit(): boolean {
    const exit = this.options.exitAfterDrain;
    return !this.#forced && this.#terminating && (exit === 'always' || (exit === 'on-signal' && this.#signalled));
  }

  async #exit(report: DrainReport): Promise<void> {
    const beforeExit = this.options.beforeExit;
    if (beforeExit) {
      // The app's own shutdown (e.g. fastify.close()), bounded by what is left before SIGKILL.
      const { gracePeriodMs, safetyMarginMs } = this.options.budget;
      const leftMs = Math.max(0, report.startedAt + gracePeriodMs - safetyMarginMs / 2 - Date.now());
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(() => beforeExit(report)),
          new Promise((resolve) => {
            timer = setTimeout(resolve, leftMs);
          }),
        ]);
      } catch (error) {
        this.options.logger.error({ err: String(error) }, 'baton: beforeExit failed; exiting anyway');
      } finally {
        clearTimeout(timer);
      }
    }
    await this.#release();
    // Let 'drained' listeners and pending writes run, then exit as the default SIGTERM would have.
    setImmediate(() => process.exit(0));
  }

  #setState(to: DrainStateName): void {
    const from = this.#state;
    this.#state = to;
    const change: StateChange = { from, to, trigger: this.#trigger };
    if (stateChannel.hasSubscribers) stateChannel.publish(change);
    this.emit('state', change);
  }

  #removeSignalHandlers(): void {
    for (const signal of this.options.signals) process.off(signal, this.#signalHandler);
  }

  #release(): Promise<void> {
    this.#released ??= (async () => {
      this.#removeSignalHandlers();
      for (const server of [...this.#servers.keys()]) this.detach(server);
      this.#metrics?.unregister();
      await this.#admin?.close();
    })();
    return this.#released;
  }

  #counters(): DrainCounters {
    return {
      connections: this.#connections.size,
      state: this.#state,
      accepted: this.#accepted,
      refusedUpgrades: this.#refusedUpgrades,
      closed: this.#closed,
      hinted: this.#hinted,
      terminated: this.#terminated,
      drainStartedAtSeconds: this.#startedAt / 1000,
      ...(this.#hold?.metrics(this.#closingStartedAt) ?? { holdSeconds: 0, holdOutcome: undefined }),
    };
  }

  override emit<K extends keyof DrainControllerEvents>(event: K, ...args: DrainControllerEvents[K]): boolean {
    // A throwing listener must not break the drain.
    try {
      return super.emit(event, ...(args as never));
    } catch (error) {
      this.options.logger.error({ err: String(error), event }, 'baton: event listener threw');
      return true;
    }
  }
}

function isWebSocketServer(value: unknown): value is WebSocketServer {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<WebSocketServer>;
  return (
    typeof candidate.handleUpgrade === 'function' &&
    typeof candidate.on === 'function' &&
    typeof candidate.options === 'object' &&
    candidate.options !== null
  );
}

function budgetLog(budget: DrainBudget): Record<string, number> {
  return {
    gracePeriodMs: budget.gracePeriodMs,
    propagationDelayMs: budget.propagationDelayMs,
    drainWindowMs: budget.drainWindowMs,
    closeTimeoutMs: budget.closeTimeoutMs,
  };
}
