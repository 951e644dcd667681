// Prometheus metrics through prom-client, an optional peer: loaded only when metrics are wanted and present.
// Values are read at scrape time through collect(), so the connection hot path pays nothing for them.

import type { AdmissionCounts } from './admission-control.js';
import type { DrainStateName } from './lifecycle.js';
import { DrainState } from './lifecycle.js';
import { type MetricRow, type MetricSample, registerMetricTable } from './metric-table.js';
import type { RebalanceCounts } from './rebalancer.js';

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
  /** Rebalancing's moves and its view of the fleet, when it is on. */
  readonly rebalance: RebalanceCounts | undefined;
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

const HOLD_OUTCOMES = ['holding', 'released', 'capped', 'no-rollout', 'unknown'] as const;

const one = (value: number): readonly MetricSample[] => [[undefined, value]];

/** drain-core's metrics, one row each. */
const DRAIN_METRICS: readonly MetricRow<DrainCounters>[] = [
  {
    name: 'baton_connections',
    help: 'Open WebSocket connections tracked by Baton.',
    kind: 'gauge',
    samples: (c) => one(c.connections),
  },
  {
    name: 'baton_connections_accepted_total',
    help: 'WebSocket connections accepted since start.',
    kind: 'counter',
    samples: (c) => one(c.accepted),
  },
  {
    name: 'baton_upgrades_refused_total',
    help: 'WebSocket upgrades refused with 503 because the pod was closing.',
    kind: 'counter',
    samples: (c) => one(c.refusedUpgrades),
  },
  {
    name: 'baton_drain_state',
    help: 'Drain lifecycle state: 1 for the current state, 0 for the others.',
    kind: 'gauge',
    labelNames: ['state'],
    samples: (c) => Object.values(DrainState).map((state) => [{ state }, state === c.state ? 1 : 0] as const),
  },
  {
    name: 'baton_drain_closes_total',
    help: 'Connections ended by the drain, by method: close (1012), hint (reconnect hint sent), terminate (no close handshake in time).',
    kind: 'counter',
    labelNames: ['method'],
    samples: (c) => [
      [{ method: 'close' }, c.closed],
      [{ method: 'hint' }, c.hinted],
      [{ method: 'terminate' }, c.terminated],
    ],
  },
  {
    name: 'baton_drain_started_timestamp_seconds',
    help: 'Unix time the drain was triggered, 0 while serving.',
    kind: 'gauge',
    samples: (c) => one(c.drainStartedAtSeconds),
  },
  {
    name: 'baton_drain_hold_seconds',
    help: 'Rollout-aware hold: how much later than the propagation delay closing started (or, while holding, so far).',
    kind: 'gauge',
    samples: (c) => one(c.holdSeconds),
  },
  {
    name: 'baton_drain_hold_outcome',
    help: 'Rollout-aware hold outcome: 1 for the current one (holding, released, capped, no-rollout, unknown), 0 for the others.',
    kind: 'gauge',
    labelNames: ['outcome'],
    samples: (c) => HOLD_OUTCOMES.map((outcome) => [{ outcome }, outcome === c.holdOutcome ? 1 : 0] as const),
  },
  {
    name: 'baton_drain_connections_at_closing',
    help: 'Connections open when the closing phase began, 0 before: with baton_drain_window_seconds, the planned close rate.',
    kind: 'gauge',
    samples: (c) => one(c.connectionsAtClosing),
  },
  {
    name: 'baton_drain_window_seconds',
    help: 'The window the closing phase spreads its closes over, in seconds, 0 before closing.',
    kind: 'gauge',
    samples: (c) => one(c.windowSeconds),
  },
  {
    name: 'baton_resumes_total',
    help: 'Protocol v1 resume tokens offered with an upgrade, by result: resumed (session restored) or refused (started fresh).',
    kind: 'counter',
    labelNames: ['result'],
    samples: (c) => [
      [{ result: 'resumed' }, c.resumed],
      [{ result: 'refused' }, c.resumeRefused],
    ],
  },
  {
    name: 'baton_admission_total',
    help: 'Admission control (when configured): upgrades admitted or refused (503) by the accepts-per-second cap, by kind: fresh, or resume (a resume token that opened).',
    kind: 'counter',
    labelNames: ['kind', 'result'],
    samples: (c) =>
      c.admission
        ? (['fresh', 'resume'] as const).flatMap((kind) => [
            [{ kind, result: 'admitted' }, (c.admission as AdmissionCounts).admitted[kind]] as const,
            [{ kind, result: 'refused' }, (c.admission as AdmissionCounts).refused[kind]] as const,
          ])
        : [],
  },
  {
    name: 'baton_rebalance_moves_total',
    help: 'Rebalancing (when configured): Baton connections this pod hinted to move because it held more than its share of the fleet.',
    kind: 'counter',
    samples: (c) => (c.rebalance ? one(c.rebalance.moves) : []),
  },
  {
    name: 'baton_rebalance_movers_total',
    help: 'Rebalancing (when configured): clients moving from another pod, by result: accepted, or refused (503) because this pod held its share.',
    kind: 'counter',
    labelNames: ['result'],
    samples: (c) =>
      c.rebalance
        ? [
            [{ result: 'accepted' }, c.rebalance.arrivals],
            [{ result: 'refused' }, c.rebalance.refusals],
          ]
        : [],
  },
  {
    name: 'baton_rebalance_share',
    help: 'Rebalancing (when configured): the connections this pod believes it should hold (fleet connections / serving pods); absent while unknown.',
    kind: 'gauge',
    samples: (c) => (c.rebalance && Number.isFinite(c.rebalance.share) ? one(c.rebalance.share) : []),
  },
  {
    name: 'baton_rebalance_fleet_pods',
    help: 'Rebalancing (when configured): serving pods in the last reading of the fleet, this one included; 0 while unknown.',
    kind: 'gauge',
    samples: (c) => (c.rebalance ? one(c.rebalance.pods) : []),
  },
];

/** The names of drain-core's metrics (the table's own). */
export const METRIC_NAMES: readonly string[] = DRAIN_METRICS.map((row) => row.name);

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
  const unregister = registerMetricTable(client, target, DRAIN_METRICS, read);
  return { registry: target, unregister };
}
