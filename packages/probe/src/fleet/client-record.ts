// What one client of the fleet saw: every connection it had (when, to which version and pod, how it ended),
// every upgrade refused, and what its user would notice (disconnects, moves, ticks). Plain data: it crosses
// the IPC channel from the fleet's worker processes and is the raw material of every figure.

/** How a connection came about: a client's first, a reconnect after a disconnect, or a Baton move. */
export type ConnectionKind = 'first' | 'reconnect' | 'move';

export interface ConnectionRecord {
  /** Epoch ms the upgrade completed (101 received). */
  at: number;
  /** Epoch ms the connection closed; undefined while open. */
  closedAt?: number;
  kind: ConnectionKind;
  /** The version that served it (Baton-Version, or --version-from); '?' when the server did not say. */
  version: string;
  /** The pod that served it (Baton-Pod); '?' when the server did not say. */
  pod: string;
}

/** An upgrade answered with an HTTP status instead of 101 (a draining pod's 503, admission control's). */
export interface RefusalRecord {
  at: number;
  status: number;
  version: string;
  pod: string;
}

export interface ClientRecord {
  connections: ConnectionRecord[];
  refusals: RefusalRecord[];
  /** Attempts that failed below HTTP (refused, reset, timed out, TLS), and the last one's message. */
  failures: number;
  lastError?: string;
  /** App-visible disconnects: closes of an open connection (a Baton move is not one). */
  disconnects: number;
  /** The close code of each app-visible disconnect, in order (what tells a refused move from a dead pod). */
  closeCodes: number[];
  /** Baton clients: moves without an app-visible close. */
  migrations: number;
  /** Baton clients: sessions resumed on a new server (a move or a reconnect with a token), and refused tokens. */
  resumed: number;
  resumeFailed: number;
  /** Ticks missing inside one session (gaps), and ticks delivered twice (the example gateways' tick stream). */
  ticksLost: number;
  ticksDuplicated: number;
  connected: boolean;
}

export function newRecord(): ClientRecord {
  return {
    connections: [],
    refusals: [],
    failures: 0,
    disconnects: 0,
    closeCodes: [],
    migrations: 0,
    resumed: 0,
    resumeFailed: 0,
    ticksLost: 0,
    ticksDuplicated: 0,
    connected: false,
  };
}

/** What happened to `after` since `before` (the same client, earlier): only a release's part counts. */
export function since(after: ClientRecord, before: ClientRecord): ClientRecord {
  return {
    ...after,
    connections: after.connections.slice(before.connections.length),
    refusals: after.refusals.slice(before.refusals.length),
    failures: after.failures - before.failures,
    disconnects: after.disconnects - before.disconnects,
    closeCodes: after.closeCodes.slice(before.closeCodes.length),
    migrations: after.migrations - before.migrations,
    resumed: after.resumed - before.resumed,
    resumeFailed: after.resumeFailed - before.resumeFailed,
    ticksLost: after.ticksLost - before.ticksLost,
    ticksDuplicated: after.ticksDuplicated - before.ticksDuplicated,
  };
}
