// A probe run as raw data: every client's outcome, every connection and refusal with its time, version and
// pod, and the rollout's events when the probe watched the cluster. The report's figures are computed from
// it (summarize.ts), and shards' runs are concatenated before they are (merge.ts), so a merged report is
// the report of one large fleet, not an average of reports.

import type { ClientRecord, ConnectionKind } from '../fleet/client-record.js';

export interface ClientOutcome {
  disconnects: number;
  migrations: number;
  closeCodes: number[];
  connected: boolean;
  resumed: number;
  resumeFailed: number;
  ticksLost: number;
  ticksDuplicated: number;
  failures: number;
}

export interface RunConnection {
  /** Epoch ms. */
  at: number;
  closedAt: number | null;
  kind: ConnectionKind;
  version: string;
  pod: string;
  /** Index into `clients`. */
  client: number;
}

export interface RunRefusal {
  at: number;
  status: number;
  version: string;
  pod: string;
}

/** What the probe saw of the cluster (pods of the selector), epoch ms. */
export interface RolloutEvent {
  at: number;
  type: 'created' | 'ready' | 'terminating' | 'deleted';
  pod: string;
  /** The pod's ReplicaSet (its owner), or '' when it has none. */
  replicaSet: string;
}

export interface ProbeRun {
  /** Epoch ms the measured span began and ended. Connections before it may be listed (see summarize). */
  startedAt: number;
  endedAt: number;
  /** 'plain' or 'baton' clients. */
  kind: 'plain' | 'baton';
  /** Real seconds per second of this run's clock: 1 for the probe; the lab's compressed runs set theirs. */
  timeScale: number;
  clients: ClientOutcome[];
  connections: RunConnection[];
  refusals: RunRefusal[];
  /** null: the probe had no cluster access. */
  rollout: RolloutEvent[] | null;
  lastError?: string;
}

/** A run from the fleet's records (the clients' order is kept: client i of the run is record i). */
export function runFromRecords(
  records: ClientRecord[],
  run: Pick<ProbeRun, 'startedAt' | 'endedAt' | 'kind'> & Partial<Pick<ProbeRun, 'timeScale' | 'rollout'>>,
): ProbeRun {
  const connections: RunConnection[] = [];
  const refusals: RunRefusal[] = [];
  let lastError: string | undefined;
  records.forEach((record, client) => {
    for (const c of record.connections)
      connections.push({
        at: c.at,
        closedAt: c.closedAt ?? null,
        kind: c.kind,
        version: c.version,
        pod: c.pod,
        client,
      });
    refusals.push(...record.refusals);
    if (record.lastError) lastError = record.lastError;
  });
  connections.sort((a, b) => a.at - b.at);
  refusals.sort((a, b) => a.at - b.at);
  return {
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    kind: run.kind,
    timeScale: run.timeScale ?? 1,
    clients: records.map((r) => ({
      disconnects: r.disconnects,
      migrations: r.migrations,
      closeCodes: r.closeCodes,
      connected: r.connected,
      resumed: r.resumed,
      resumeFailed: r.resumeFailed,
      ticksLost: r.ticksLost,
      ticksDuplicated: r.ticksDuplicated,
      failures: r.failures,
    })),
    connections,
    refusals,
    rollout: run.rollout ?? null,
    ...(lastError ? { lastError } : {}),
  };
}
