// Rebalancing after a scale-out (docs/architecture.md, "Rebalancing"): long-lived connections never move by
// themselves, so after the HPA adds pods the old ones stay hot. Every poll this pod reads the fleet
// (fleet-view.ts), takes share = fleet connections / serving pods, and when it holds more than
// share × (1 + tolerance) in two readings in a row (a single noisy reading moves nothing), it hints Baton
// connections to move — the drain's own reconnect hint, make-before-break — paced over 40 % of the horizon
// and capped per second, down to share × (1 + tolerance / 3); then it stops. Plain connections are never
// touched. A mover offers `baton.rebalance`; a pod at or above its target refuses it (503, the client tries
// again at once and the load balancer picks another pod), so moves land on the cooler pods. No reading, or
// a fleet of one: no moves, and movers are accepted.

import type { WebSocket } from 'ws';
import { type FleetSample, readFleet } from './fleet-view.js';
import type { ResolvedLogger } from './logger.js';
import type { ResolvedRebalanceOptions } from './rebalance-options.js';
import {
  type ConnectionFlags,
  isCapable,
  isRebalanced,
  phaseOf,
  type SendHint,
  trackedConnection,
  withRebalanced,
} from './tracked-connection.js';

/**
 * How long a moving client may try (the hint's deadline) before its move counts as failed, a quarter of the
 * horizon between 1 and 10 s; the server never closes it for this. A move still open 2 s later (the client's
 * linger is 1 s) found no pod.
 */
const hintWindowMs = (horizonMs: number) => Math.min(10_000, Math.max(1_000, horizonMs / 4));
const MOVE_SETTLE_MS = 2_000;
export const REBALANCE_REASON = 'rebalance';
/** Share of the horizon the moves are spread over: the rest covers the readings and a second pass. */
const SPREAD_SHARE = 0.4;
const MOVE_TICK_MS = 100;

export interface RebalanceCounts {
  /** Connections this pod hinted to move. */
  readonly moves: number;
  /** Movers from other pods this pod accepted, and refused (it was at or above its target). */
  readonly arrivals: number;
  readonly refusals: number;
  /** The share this pod believes it should hold (fleet connections / serving pods); NaN when unknown. */
  readonly share: number;
  /** Serving pods in the last reading, this one included; 0 when unknown. */
  readonly pods: number;
}

export interface RebalancerTarget {
  readonly connections: Map<WebSocket, ConnectionFlags>;
  readonly instance: string;
  readonly version: string | undefined;
  readonly sendHint: SendHint | undefined;
  /** True while the pod serves (no drain under way). */
  serving(): boolean;
  readonly logger: ResolvedLogger;
}

export class Rebalancer {
  readonly #options: ResolvedRebalanceOptions;
  readonly #target: RebalancerTarget;
  /** Hinted to move and still here: counted out of this pod's load until they go or their hint expires. */
  readonly #pending = new Map<WebSocket, { expiresAt: number; episode: number }>();
  /** When the current episode began: moves hinted in its first hint window do not count against it. */
  #episodeStartedAt = 0;
  #sample: FleetSample | undefined;
  #overReadings = 0;
  #moving = false;
  #movesLeft = 0;
  #ratePerSecond = 0;
  /** The current episode's plan: the fleet's size it was made for, and when its moves should be done. */
  #planPods = 0;
  #planEndsAt = 0;
  #credit = 0;
  #cursor: Iterator<[WebSocket, ConnectionFlags]> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #moveTimer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  #running = false;
  #moves = 0;
  /** Moves before the current episode, and this episode's moves whose hint expired with the client still here. */
  /** The current episode (a run of moves from start to stop), and its moves that failed and succeeded. */
  #episode = 0;
  #failed = 0;
  #succeeded = 0;
  /** Suspended (movers found no room) while the fleet keeps this many pods, until this time. */
  #suspendedAt: { pods: number; until: number } | undefined;
  #arrivals = 0;
  #refusals = 0;

  constructor(options: ResolvedRebalanceOptions, target: RebalancerTarget) {
    this.#options = options;
    this.#target = target;
  }

  /** Start reading the fleet (at once, then every pollIntervalMs). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#poll();
  }

  /** Stop reading and moving. Idempotent. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#pollTimer);
    this.#stopMoving();
  }

  get counts(): RebalanceCounts {
    return {
      moves: this.#moves,
      arrivals: this.#arrivals,
      refusals: this.#refusals,
      share: this.#share ?? Number.NaN,
      pods: this.#sample?.pods ?? 0,
    };
  }

  /** The gate asks before a mover's upgrade: accept it here, or send it on (503) to a cooler pod. */
  admitsMover(): boolean {
    const share = this.#share;
    const admitted =
      this.#target.serving() && (share === undefined || this.#load() + 1 <= share * (1 + this.#options.tolerance / 3));
    if (!admitted) this.#refusals++;
    return admitted;
  }

  /** A mover was accepted: its flags say so, and it is never picked again. */
  arrived(flags: ConnectionFlags): ConnectionFlags {
    this.#arrivals++;
    return withRebalanced(flags);
  }

  /** A connection left (its socket closed). */
  forget(socket: WebSocket): void {
    const pending = this.#pending.get(socket);
    if (!pending) return;
    this.#pending.delete(socket);
    if (pending.episode === this.#episode) this.#succeeded++;
  }

  get #share(): number | undefined {
    const sample = this.#sample;
    // Two releases in the fleet: the share is no one's business until one is gone (nothing moves, movers pass).
    return sample && sample.pods >= 2 && !sample.mixedVersions ? sample.connections / sample.pods : undefined;
  }

  /** Connections that stay: the open ones less those hinted to move whose hint has not expired. */
  #load(): number {
    const now = Date.now();
    for (const [socket, { expiresAt, episode }] of this.#pending) {
      if (expiresAt > now) continue;
      this.#pending.delete(socket);
      // Still here after its hint expired: no pod took it.
      if (episode === this.#episode && this.#target.connections.has(socket)) this.#failed++;
    }
    return this.#target.connections.size - this.#pending.size;
  }

  async #poll(): Promise<void> {
    if (!this.#running) return;
    try {
      await this.#read();
    } catch (error) {
      this.#sample = undefined;
      this.#target.logger.warn({ err: String(error) }, 'baton: rebalance could not read the fleet; no moves');
    }
    if (!this.#running) return;
    this.#pollTimer = setTimeout(() => void this.#poll(), this.#options.pollIntervalMs);
    this.#pollTimer.unref();
  }

  async #read(): Promise<void> {
    if (!this.#target.serving()) {
      this.#sample = undefined;
      this.#overReadings = 0;
      return this.#stopMoving();
    }
    const { peers, peerPath, peerTimeoutMs } = this.#options;
    const list = await peers();
    const { instance, version } = this.#target;
    const self = { instance, version, connections: this.#target.connections.size };
    const sample = await readFleet(list, peerPath, peerTimeoutMs, self);
    if (sample.mixedVersions !== this.#sample?.mixedVersions && sample.mixedVersions) {
      this.#target.logger.info({ pods: sample.pods }, 'baton: rebalancing paused: a release is under way');
    }
    const suspended = this.#suspendedAt;
    if (suspended && (sample.pods !== suspended.pods || Date.now() >= suspended.until)) this.#suspendedAt = undefined;
    this.#sample = sample;
    this.#decide();
  }

  #decide(): void {
    const share = this.#share;
    if (share === undefined || !this.#target.serving()) {
      this.#overReadings = 0;
      return this.#stopMoving();
    }
    const { tolerance } = this.#options;
    const load = this.#load();
    const target = share * (1 + tolerance / 3);
    if (this.#moving && this.#failed >= 10 && this.#failed >= 4 * this.#succeeded) {
      // Nearly every mover of this episode found no pod that would take them: the reading counts pods the load
      // balancer does not send to (a blue/green preview, peers behind another Service). A load balancer that
      // has not yet noticed the new pods (health checks) fails a few moves, not four in five of ten or more.
      // Rest for a horizon, or until the fleet changes size.
      const pods = this.#sample?.pods ?? 0;
      this.#suspendedAt = { pods, until: Date.now() + this.#options.horizonMs };
      this.#overReadings = 0;
      this.#target.logger.warn(
        { pods, share: Math.round(share), failed: this.#failed, succeeded: this.#succeeded },
        'baton: rebalancing suspended: most movers found no pod that would take them; check that every peer is behind the same load balancer',
      );
      return this.#stopMoving();
    }
    if (this.#suspendedAt !== undefined) return;
    if (!this.#moving) {
      // Hysteresis: over the upper bound in two readings in a row; then down to the lower one.
      this.#overReadings = load > share * (1 + tolerance) && load - target >= 1 ? this.#overReadings + 1 : 0;
      if (this.#overReadings < 2) return;
      this.#overReadings = 0;
      // Every Baton connection here was asked once already (or none is Baton): nothing to start.
      if (!this.#anyMovable()) return;
      this.#newEpisode();
      const movesLeft = Math.floor(load - target);
      this.#moving = true;
      this.#plan(movesLeft);
      this.#credit = 0;
      this.#lastTick = Date.now();
      this.#target.logger.info(
        {
          connections: this.#target.connections.size,
          share: Math.round(share),
          pods: this.#sample?.pods,
          moves: movesLeft,
          movesPerSecond: Math.round(this.#ratePerSecond * 10) / 10,
        },
        'baton: rebalancing: above the fleet share, moving Baton connections',
      );
      this.#moveTimer = setInterval(() => this.#tick(), MOVE_TICK_MS);
      this.#moveTimer.unref();
      return;
    }
    if (load <= target) return this.#stopMoving('balanced');
    // A newer reading: what is left to move (new arrivals, moves that failed), by the same end, unless the
    // fleet changed size under the plan (pods joined or left), which starts a new one.
    this.#plan(Math.floor(load - target));
  }

  #newEpisode(): void {
    this.#episode++;
    this.#failed = 0;
    this.#succeeded = 0;
    this.#episodeStartedAt = Date.now();
  }

  /** Spread `movesLeft` over what is left of the plan (40 % of the horizon from its start), capped per second. */
  #plan(movesLeft: number): void {
    const { horizonMs, maxMovesPerSecond, pollIntervalMs } = this.#options;
    const now = Date.now();
    const pods = this.#sample?.pods ?? 0;
    if (!this.#planEndsAt || pods !== this.#planPods) {
      // The fleet changed size under a plan: a new episode, judged on its own moves.
      if (this.#planEndsAt) this.#newEpisode();
      this.#planPods = pods;
      this.#planEndsAt = now + horizonMs * SPREAD_SHARE;
    }
    const secondsLeft = Math.max(this.#planEndsAt - now, pollIntervalMs) / 1000;
    this.#movesLeft = movesLeft;
    this.#ratePerSecond = Math.min(maxMovesPerSecond, Math.max(1, movesLeft / secondsLeft));
  }

  #tick(): void {
    if (!this.#target.serving()) return this.#stopMoving();
    const now = Date.now();
    this.#credit = Math.min(this.#credit + ((now - this.#lastTick) / 1000) * this.#ratePerSecond, this.#ratePerSecond);
    this.#lastTick = now;
    while (this.#credit >= 1 && this.#movesLeft > 0) {
      const socket = this.#nextMovable();
      if (!socket) return this.#stopMoving('no Baton connection left to move');
      this.#credit--;
      this.#movesLeft--;
      this.#hint(socket, now);
    }
    // Moves spent: idle until a reading says the pod is down to its target (or has more to move).
  }

  #hint(socket: WebSocket, now: number): void {
    const { connections, sendHint } = this.#target;
    const flags = connections.get(socket) as ConnectionFlags;
    // Picked once: a connection whose move fails stays, and is not asked again by this pod.
    connections.set(socket, withRebalanced(flags));
    const deadlineAt = now + hintWindowMs(this.#options.horizonMs);
    let sent = false;
    try {
      sent = sendHint?.(trackedConnection(socket, flags), { deadlineAt, reason: REBALANCE_REASON }) === true;
    } catch (error) {
      this.#target.logger.error({ err: String(error) }, 'baton: sendHint threw; that connection stays');
    }
    if (!sent) return;
    this.#moves++;
    // A load balancer notices new pods only after its health checks (GKE: 3 to 8 s): the moves of an episode's
    // first hint window may find no cool pod yet, and are not held against it (episode -1: never counted).
    const counted = now - this.#episodeStartedAt >= hintWindowMs(this.#options.horizonMs);
    this.#pending.set(socket, { expiresAt: deadlineAt + MOVE_SETTLE_MS, episode: counted ? this.#episode : -1 });
  }

  #anyMovable(): boolean {
    for (const [socket, flags] of this.#target.connections) if (movable(socket, flags)) return true;
    return false;
  }

  /** The next open Baton connection never moved by a rebalance, oldest first; undefined when none is left. */
  #nextMovable(): WebSocket | undefined {
    const connections = this.#target.connections;
    for (let pass = 0; pass < 2; pass++) {
      this.#cursor ??= connections.entries();
      for (let next = this.#cursor.next(); !next.done; next = this.#cursor.next()) {
        const [socket, flags] = next.value;
        if (movable(socket, flags)) return socket;
      }
      this.#cursor = undefined;
    }
    return undefined;
  }

  #stopMoving(why?: string): void {
    if (this.#moveTimer) clearInterval(this.#moveTimer);
    this.#moveTimer = undefined;
    if (!this.#moving) return;
    this.#moving = false;
    this.#planEndsAt = 0;
    this.#cursor = undefined;
    if (why) {
      this.#target.logger.info(
        { connections: this.#target.connections.size, share: Math.round(this.#share ?? 0), moves: this.#moves, why },
        'baton: rebalancing stopped',
      );
    }
  }
}

function movable(socket: WebSocket, flags: ConnectionFlags): boolean {
  return isCapable(flags) && !isRebalanced(flags) && phaseOf(flags) === 'open' && socket.readyState === 1;
}
