// Prometheus metrics through prom-client, an optional peer: loaded only when metrics are wanted and present.
// Values are read at scrape time through collect(), so the connection hot path pays nothing for them.

import type { AdmissionCounts } from './admission-control.js';
import type { DrainStateName } from './drain-state.js';
import { DrainState } from './drain-state.js';

/** The numbers a DrainController keeps anyway; metrics only read them. */
export interface DrainCounters {
  readonly connections: number;
  readonly state: DrainStateName;
  readonly accepted: number;
  readonly refusedUpgrades: number;
  readonly closed: number;
  readonly hinted: number;
  readonly terminated: number;
  /** Epoch seconds of the trigger, or 0. */
  readonly drainStartedAtSeconds: number;
  /** The rollout hold: seconds closing started later than the propagation delay (so far), and its outcome. */
  readonly holdSeconds: number;
  readonly holdOutcome: string | undefined;
  /** The closing phase: connections open when it began and the window they are spread over (0 before). */
  readonly connectionsAtClosing: number;
  readonly windowSeconds: number;
  /** Protocol v1: offered resume tokens opened, and refused (the session started fresh). */
  readonly resumed: number;
  readonly resumeRefused: number;
  /** Admission control's decisions, when it is on. */
  readonly admission: AdmissionCounts | undefined;
}

/** The part of a prom-client Registry Baton uses. */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface DrainMetrics {
  readonly registry: MetricsRegistry;
  /** Remove Baton's metrics from the registry (so a second controller can register again). */
  unregister(): void;
}

export const METRIC_NAMES = [
  'baton_connections',
  'baton_connections_accepted_total',
  'baton_upgrades_refused_total',
  'baton_drain_state',
  'baton_drain_closes_total',
  'baton_drain_started_timestamp_seconds',
  'baton_drain_hold_seconds',
  'baton_drain_hold_outcome',
  'baton_drain_connections_at_closing',
  'baton_drain_window_seconds',
  'baton_resumes_total',
  'baton_admission_total',
] as const;

const HOLD_OUTCOMES = ['holding', 'released', 'capped', 'no-rollout', 'unknown'] as const;

/** Returns undefined when prom-client is not installed. */
export async function createDrainMetrics(
  read: () => DrainCounters,
  registry?: unknown,
): Promise<DrainMetrics | undefined> {
  let client: typeof import('prom-client');
  try {
    client = await import('prom-client');
  } catch {
    return undefined;
  }
  const target = (registry as import('prom-client').Registry | undefined) ?? new client.Registry();
  const registers = [target];
  new client.Gauge({
    name: 'baton_connections',
    help: 'Open WebSocket connections tracked by Baton.',
    registers,
    collect() {
      this.set(read().connections);
    },
  });
  new client.Counter({
    name: 'baton_connections_accepted_total',
    help: 'WebSocket connections accepted since start.',
    registers,
    collect() {
      this.reset();
      this.inc(read().accepted);
    },
  });
  new client.Counter({
    name: 'baton_upgrades_refused_total',
    help: 'WebSocket upgrades refused with 503 because the pod was closing.',
    registers,
    collect() {
      this.reset();
      this.inc(read().refusedUpgrades);
    },
  });
  new client.Gauge({
    name: 'baton_drain_state',
    help: 'Drain lifecycle state: 1 for the current state, 0 for the others.',
    labelNames: ['state'],
    registers,
    collect() {
      const current = read().state;
      for (const state of Object.values(DrainState)) this.set({ state }, state === current ? 1 : 0);
    },
  });
  new client.Counter({
    name: 'baton_drain_closes_total',
    help: 'Connections ended by the drain, by method: close (1012), hint (reconnect hint sent), terminate (no close handshake in time).',
    labelNames: ['method'],
    registers,
    collect() {
      const counters = read();
      this.reset();
      this.inc({ method: 'close' }, counters.closed);
      this.inc({ method: 'hint' }, counters.hinted);
      this.inc({ method: 'terminate' }, counters.terminated);
    },
  });
  new client.Gauge({
    name: 'baton_drain_started_timestamp_seconds',
    help: 'Unix time the drain was triggered, 0 while serving.',
    registers,
    collect() {
      this.set(read().drainStartedAtSeconds);
    },
  });
  new client.Gauge({
    name: 'baton_drain_hold_seconds',
    help: 'Rollout-aware hold: how much later than the propagation delay closing started (or, while holding, so far).',
    registers,
    collect() {
      this.set(read().holdSeconds);
    },
  });
  new client.Gauge({
    name: 'baton_drain_hold_outcome',
    help: 'Rollout-aware hold outcome: 1 for the current one (holding, released, capped, no-rollout, unknown), 0 for the others.',
    labelNames: ['outcome'],
    registers,
    collect() {
      const current = read().holdOutcome;
      for (const outcome of HOLD_OUTCOMES) this.set({ outcome }, outcome === current ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'baton_drain_connections_at_closing',
    help: 'Connections open when the closing phase began, 0 before: with baton_drain_window_seconds, the planned close rate.',
    registers,
    collect() {
      this.set(read().connectionsAtClosing);
    },
  });
  new client.Gauge({
    name: 'baton_drain_window_seconds',
    help: 'The window the closing phase spreads its closes over, in seconds, 0 before closing.',
    registers,
    collect() {
      this.set(read().windowSeconds);
    },
  });
  new client.Counter({
    name: 'baton_resumes_total',
    help: 'Protocol v1 resume tokens offered with an upgrade, by result: resumed (session restored) or refused (started fresh).',
    labelNames: ['result'],
    registers,
    collect() {
      const counters = read();
      this.reset();
      this.inc({ result: 'resumed' }, counters.resumed);
      this.inc({ result: 'refused' }, counters.resumeRefused);
    },
  });
  new client.Counter({
    name: 'baton_admission_total',
    help: 'Admission control (when configured): upgrades admitted or refused (503) by the accepts-per-second cap, by kind: fresh, or resume (a resume token that opened).',
    labelNames: ['kind', 'result'],
    registers,
    collect() {
      const counts = read().admission;
      this.reset();
      if (!counts) return;
      for (const kind of ['fresh', 'resume'] as const) {
        this.inc({ kind, result: 'admitted' }, counts.admitted[kind]);
        this.inc({ kind, result: 'refused' }, counts.refused[kind]);
      }
    },
  });
  return {
    registry: target,
    unregister() {
      for (const name of METRIC_NAMES) target.removeSingleMetric(name);
    },
  };
}
