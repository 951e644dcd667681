// The drain of one process: tracks the connections of attached ws servers and walks the lifecycle
// serving → draining → closing → drained (docs/architecture.md, "Lifecycle") on the first trigger: SIGTERM,
// the admin drain endpoint, or drain(). Later triggers never restart timers. How connections are hinted is
// the connection hooks' business (protocol-v1.ts), how the window is paced the closing phase's
// (closing-phase.ts), what is counted the record's (drain-record.ts).

import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import { AdmissionControl } from './admission-control.js';
import type { DrainBudget } from './budget.js';
import { CheckpointTimer } from './checkpoint-timer.js';
import { ClosingPhase } from './closing-phase.js';
import { type ConnectionHooks, customHooks } from './connection-hooks.js';
import type { DrainControllerEvents, StateChange } from './controller-events.js';
import { ExitPolicy } from './drain-exit.js';
import { DrainRecord, type DrainReport } from './drain-record.js';
import { type DrainRequest, type ResolvedDrainRequest, resolveDrainRequest } from './drain-request.js';
import { DrainServices } from './drain-services.js';
import { BatonError, ErrorCodes } from './errors.js';
import { offersRebalance, type ResumeResult } from './hint-protocol.js';
import { IDENTITY_HEADERS } from './identity-options.js';
import { DrainState, type DrainStateName, type DrainTrigger, stateIndex } from './lifecycle.js';
import { type DrainOptions, type ResolvedDrainOptions, resolveDrainOptions } from './options.js';
import { DrainSchedule } from './phase-schedule.js';
import { type PodTotals, sumTotals } from './pod-messages.js';
import type { WorkerGroup } from './pod-primary.js';
import { protocolV1Hooks } from './protocol-v1.js';
import { Rebalancer } from './rebalancer.js';
import { ServerAttachments } from './server-attachment.js';
import { drainStatus } from './status-view.js';
import {
  type ConnectionFlags,
  connectionFlags,
  isCapable,
  phaseOf,
  type TrackedConnection,
  trackedConnection,
} from './tracked-connection.js';

const stateChannel = channel('baton:drain-core:state');

export class DrainController extends EventEmitter<DrainControllerEvents> {
  readonly options: ResolvedDrainOptions;
  readonly #connections = new Map<WebSocket, ConnectionFlags>();
  readonly #attachments: ServerAttachments;
  /** A pod's worker processes, when this controller is their primary (PodWorkers). */
  #workers: WorkerGroup | undefined;
  readonly #hooks: ConnectionHooks;
  readonly #record = new DrainRecord();
  readonly #closing: ClosingPhase;
  #state: DrainStateName = DrainState.SERVING;
  #trigger: DrainTrigger | undefined;
  #terminating = false;
  /** This drain's cap on closes per second: the options', or a lower one the request set (a pod's worker). */
  #maxClosesPerSecond = Number.POSITIVE_INFINITY;
  #signalled = false;
  #forced = false;
  #startedAt = 0;
  /** When this drain's phases begin (propagation, the rollout hold, the window). */
  readonly #schedule: DrainSchedule;
  #drained: Promise<DrainReport> | undefined;
  readonly #exitPolicy: ExitPolicy;
  readonly #checkpoints: CheckpointTimer | undefined;
  #resolveDrained: ((report: DrainReport) => void) | undefined;
  readonly #services: DrainServices;
  #released: Promise<void> | undefined;
  // ws emits 'close' with the socket as `this`; one function serves every connection.
  readonly #onSocketClose: (this: WebSocket) => void;
  /** This process's random id in status(): how peers reading the fleet tell it apart. */
  readonly #instance = randomBytes(9).toString('base64url');
  readonly #rebalancer: Rebalancer | undefined;
  readonly #version: string | undefined;

  constructor(options: DrainOptions = {}) {
    super();
    this.options = resolveDrainOptions(options);
    this.#schedule = new DrainSchedule(this.options);
    const { hintProtocol, logger } = this.options;
    this.#hooks = hintProtocol
      ? protocolV1Hooks(hintProtocol, logger, this.#record)
      : customHooks(this.options.isCapable, this.options.sendHint, logger);
    this.#closing = new ClosingPhase({
      options: this.options,
      connections: this.#connections,
      record: this.#record,
      sendHint: this.#hooks.sendHint,
      isClosing: () => this.#state === DrainState.CLOSING,
    });
    const admission = this.options.admission
      ? new AdmissionControl(this.options.admission, this.options.random)
      : undefined;
    const identityVersion = this.options.identityHeaders[IDENTITY_HEADERS.version];
    this.#version =
      this.options.rebalance?.version ?? (typeof identityVersion === 'string' ? identityVersion : undefined);
    const rebalancer = this.options.rebalance
      ? new Rebalancer(this.options.rebalance, {
          connections: this.#connections,
          instance: this.#instance,
          version: this.#version,
          sendHint: this.#hooks.sendHint,
          serving: () => this.#state === DrainState.SERVING,
          logger,
        })
      : undefined;
    this.#rebalancer = rebalancer;
    this.#services = new DrainServices(this.options, {
      status: () => this.status(),
      isReady: () => this.isReady(),
      startDrain: (trigger) => {
        const alreadyDraining = this.#state !== DrainState.SERVING;
        this.#begin({ trigger, terminating: trigger === 'prestop' });
        return { alreadyDraining };
      },
      cancelDrain: () => this.cancel(),
      counters: () => {
        const own = this.#record.counters({
          connections: this.#connections.size,
          state: this.#state,
          startedAt: this.#startedAt,
          hold: this.#schedule.holdMetrics(this.#record.closingStartedAt),
          admission: admission?.counts,
          rebalance: rebalancer?.counts,
        });
        // A pod's primary reports the pod: its workers' counts added to its own.
        const workers = this.#workers?.totals();
        if (!workers) return own;
        return { ...own, ...sumTotals([this.totals(), workers]) };
      },
      onSignal: () => {
        this.#signalled = true;
        this.#begin({ trigger: 'signal', terminating: true });
        this.#exitPolicy.signalled();
      },
    });
    this.#attachments = new ServerAttachments({
      hooks: this.#hooks,
      gate: {
        accepts: () => stateIndex(this.#state) < stateIndex(DrainState.CLOSING),
        ...(admission ? { admission: admission.gate((request) => this.resumeOf(request).resumed) } : {}),
        ...(rebalancer ? { steer: (request) => !offersRebalance(request) || rebalancer.admitsMover() } : {}),
        onRefused: () => {
          this.#record.refusedUpgrades++;
        },
        retryAfterSeconds: this.options.retryAfterSeconds,
        headers: this.options.identityHeaders,
      },
      responseHeaders: this.options.identityHeaders,
      refusal: () =>
        stateIndex(this.#state) >= stateIndex(DrainState.CLOSING)
          ? `Cannot attach a server while the drain is ${this.#state}.`
          : undefined,
      track: (socket, request) => this.#track(socket, request),
    });
    const { exitAfterDrain, beforeExit, budget } = this.options;
    this.#exitPolicy = new ExitPolicy(
      exitAfterDrain,
      { beforeExit, budget, logger, release: () => this.#release() },
      () => ({
        forced: this.#forced,
        terminating: this.#terminating,
        signalled: this.#signalled,
      }),
    );
    const interval = hintProtocol?.checkpointIntervalMs;
    this.#checkpoints = interval
      ? new CheckpointTimer(
          interval,
          this.#connections,
          () => stateIndex(this.#state) >= stateIndex(DrainState.CLOSING),
          (socket) => void this.checkpoint(socket),
        )
      : undefined;
    const controller = this;
    this.#onSocketClose = function onSocketClose(this: WebSocket) {
      controller.#untrack(this);
    };
  }

  get state(): DrainStateName {
    return this.#state;
  }

  get budget(): DrainBudget {
    return this.options.budget;
  }

  /** Open connections currently tracked by this process (a pod's primary: see status() for the pod's). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** This process's counts, as a worker of a pod reports them to its primary (joinPod). */
  totals(): PodTotals {
    const record = this.#record;
    return {
      connections: this.#connections.size,
      accepted: record.accepted,
      refusedUpgrades: record.refusedUpgrades,
      closed: record.closed,
      hinted: record.hinted,
      terminated: record.terminated,
      resumed: record.resumed,
      resumeRefused: record.resumeRefused,
    };
  }

  /**
   * Make this controller a pod's primary over `group`, the worker processes holding the pod's connections
   * (PodWorkers does it). Returns the function the group calls whenever what it reports changes.
   */
  attachWorkers(group: WorkerGroup): () => void {
    if (this.#workers) throw new BatonError(ErrorCodes.INVALID_SERVER, 'This DrainController already has its workers.');
    this.#workers = group;
    return () => this.#workersChanged();
  }

  /** Open connections of the pod: this process's and its workers'. */
  #openCount(): number {
    return this.#connections.size + (this.#workers?.totals().connections ?? 0);
  }

  /** Nothing left to close here, and no worker still closing. */
  #nothingLeft(): boolean {
    return this.#connections.size === 0 && !this.#workers?.pending();
  }

  #workersChanged(): void {
    if (this.#state === DrainState.CLOSING && this.#nothingLeft()) this.#finish();
  }

  /** The tracked connections (a snapshot). */
  connections(): TrackedConnection[] {
    return [...this.#connections].map(([socket, flags]) => trackedConnection(socket, flags));
  }

  /** Track the connections of a ws server (server or noServer mode) and gate its upgrades. */
  attach(server: WebSocketServer): this {
    this.#attachments.attach(server);
    return this;
  }

  /**
   * With `hintProtocol` and a handoff: send this connection a `checkpoint`, a resume token of its session as of
   * now, for a reconnect after this server is lost without a hint (a crash, a lost node). Resolves false when
   * none was sent: not a Baton connection, not open, already hinted or closing, or sealing failed.
   */
  checkpoint(socket: WebSocket): Promise<boolean> {
    const flags = this.#connections.get(socket);
    if (flags === undefined || !isCapable(flags) || phaseOf(flags) !== 'open' || !this.#hooks.checkpoint) {
      return Promise.resolve(false);
    }
    return this.#hooks.checkpoint(socket);
  }

  /**
   * With `hintProtocol`: what became of this upgrade's resume token. Call it from your 'connection' handler
   * with the request ws gives you; `{ resumed: true, state }` carries the state sealed by the old pod.
   */
  resumeOf(request: IncomingMessage): ResumeResult {
    return this.#hooks.resumeOf?.(request) ?? { resumed: false };
  }

  /** Stop tracking a server's new connections and remove its gate. Already tracked connections stay tracked. */
  detach(server: WebSocketServer): void {
    this.#attachments.detach(server);
  }

  /**
   * Start the admin server (when configured), install the signal handlers and load metrics.
   * Resolves once the admin server listens. Idempotent.
   */
  start(): Promise<void> {
    return this.#services.start().then(() => {
      if (!this.#released) this.#rebalancer?.start();
    });
  }

  /** The admin server's address, once start() resolved. */
  adminAddress(): AddressInfo | undefined {
    return this.#services.adminAddress();
  }

  /** Readiness as the readiness endpoint reports it. */
  isReady(): boolean {
    if (this.#state === DrainState.SERVING) return true;
    return this.#terminating ? this.options.readyWhileTerminating : this.options.readyWhileManualDrain;
  }

  /** A JSON-friendly view of the drain, as the admin endpoints report it. */
  status(): Record<string, unknown> {
    return drainStatus({
      instance: this.#instance,
      version: this.#version,
      state: this.#state,
      trigger: this.#trigger,
      terminating: this.#terminating,
      connections: this.#openCount(),
      startedAt: this.#startedAt,
      ...this.#schedule.span,
      closeTimeoutMs: this.options.budget.closeTimeoutMs,
      closingAt: this.#record.closingAt,
      holding: this.#schedule.holding,
      rebalance: this.#rebalancer?.counts,
    });
  }

  /**
   * Start the drain (if not started) and resolve with the report once drained. Idempotent: a later call
   * returns the same promise and never restarts a timer.
   */
  drain(request: DrainRequest = {}): Promise<DrainReport> {
    this.#begin(resolveDrainRequest(request));
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
      this.#record.connectionsAtClosing ||= this.#connections.size;
      for (const socket of this.#connections.keys()) {
        this.#record.terminated++;
        socket.terminate();
      }
      this.#workers?.terminate();
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
    this.#schedule.stop();
    this.#closing.stopPlan();
    this.#workers?.cancel();
    const report = this.#report(true);
    this.options.logger.info({ ...report }, 'baton: drain cancelled; serving again');
    this.#resolveDrained?.(report);
    this.#drained = undefined;
    this.#resolveDrained = undefined;
    this.#setState(DrainState.SERVING);
    this.#trigger = undefined;
    this.#startedAt = 0;
    // Nothing of the cancelled drain may show in status() while serving (its closing time, its hold).
    this.#schedule.forget();
    this.#record.reset();
    return true;
  }

  #report(cancelled: boolean): DrainReport {
    return this.#record.report({
      trigger: this.#trigger,
      terminating: this.#terminating,
      startedAt: this.#startedAt,
      forced: this.#forced,
      signalled: this.#signalled,
      cancelled,
      hold: this.#schedule.holdReport(this.#record.closingStartedAt, this.#closing.windowEnd),
    });
  }

  #drainedPromise(): Promise<DrainReport> {
    this.#drained ??= new Promise<DrainReport>((resolve) => {
      this.#resolveDrained = resolve;
    });
    return this.#drained;
  }

  #begin(request: Pick<ResolvedDrainRequest, 'trigger' | 'terminating'> & Partial<ResolvedDrainRequest>): void {
    const { trigger, terminating } = request;
    const { budget, logger } = this.options;
    if (this.#state !== DrainState.SERVING) {
      // A pod drained by hand that then gets deleted becomes a termination drain (readiness, exit), but its
      // timers stay as they are.
      if (terminating && !this.#terminating) this.#terminating = true;
      logger.debug({ trigger, state: this.#state }, 'baton: drain already started; trigger ignored');
      return;
    }
    this.#trigger = trigger;
    this.#terminating = terminating;
    this.#maxClosesPerSecond = Math.min(
      this.options.maxClosesPerSecond,
      request.maxClosesPerSecond ?? Number.POSITIVE_INFINITY,
    );
    this.#startedAt = Date.now();
    this.#record.reset();
    const span = this.#schedule.plan(request);
    const { gracePeriodMs, closeTimeoutMs } = budget;
    const connections = this.#openCount();
    logger.info({ trigger, terminating, connections, gracePeriodMs, ...span, closeTimeoutMs }, 'baton: drain started');
    this.#setState(DrainState.DRAINING);
    this.#schedule.begin(request, {
      closing: (now, windowEnd, heldMs) => this.#startClosing(now, windowEnd, heldMs),
      windowEnded: () => this.#closing.closeRemaining(),
    });
  }

  #startClosing(now: number, windowEnd: number, heldMs: number): void {
    const drainWindowMs = Math.max(0, windowEnd - now);
    const connections = this.#openCount();
    this.#record.closingStarted(connections, now, drainWindowMs);
    this.#setState(DrainState.CLOSING);
    this.#closing.begin(now, windowEnd, this.#maxClosesPerSecond);
    // A pod's workers close theirs over the same window, from now, sharing the cap: the pod's closes are paced
    // as one pod's.
    this.#workers?.close(drainWindowMs, this.#terminating, this.#maxClosesPerSecond);
    this.options.logger.info({ connections, drainWindowMs, heldMs }, 'baton: closing');
    if (this.#nothingLeft()) this.#finish();
  }

  #track(socket: WebSocket, request: IncomingMessage | undefined): void {
    if (this.#connections.has(socket)) return;
    const capable = this.#hooks.isCapable?.(socket, request) === true;
    let flags = connectionFlags('open', capable);
    if (this.#rebalancer && capable && offersRebalance(request)) flags = this.#rebalancer.arrived(flags);
    this.#connections.set(socket, flags);
    this.#record.accepted++;
    if (request) this.#hooks.upgraded?.(request);
    // Before the app's handler can send anything (our listener is prepended): the welcome of protocol v1.
    if (capable) this.#hooks.accepted?.(socket, request);
    // One shared listener, not a closure per connection: memory per idle connection is a benchmarked goal.
    socket.on('close', this.#onSocketClose);
    if (this.#state === DrainState.CLOSING) this.#closing.acceptedLate(socket);
    else if (this.#state === DrainState.DRAINED) this.#closing.close(socket);
    if (this.listenerCount('connection') > 0) this.emit('connection', trackedConnection(socket, flags));
  }

  #untrack(socket: WebSocket): void {
    if (!this.#connections.delete(socket)) return;
    this.#rebalancer?.forget(socket);
    if (this.#state === DrainState.CLOSING && this.#nothingLeft()) this.#finish();
  }

  #finish(): void {
    if (this.#state === DrainState.DRAINED) return;
    this.#schedule.stop();
    this.#closing.clear();
    const report = this.#report(false);
    this.#setState(DrainState.DRAINED);
    this.options.logger.info({ ...report }, 'baton: drained');
    this.#drainedPromise();
    this.#resolveDrained?.(report);
    this.emit('drained', report);
    this.#exitPolicy.drained(report);
  }

  #setState(to: DrainStateName): void {
    const from = this.#state;
    this.#state = to;
    const change: StateChange = { from, to, trigger: this.#trigger };
    if (stateChannel.hasSubscribers) stateChannel.publish(change);
    this.emit('state', change);
  }

  #release(): Promise<void> {
    this.#released ??= (async () => {
      this.#checkpoints?.stop();
      this.#rebalancer?.stop();
      this.#attachments.detachAll();
      await this.#services.release();
    })();
    return this.#released;
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
