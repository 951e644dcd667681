// The "rebalance" option: within how long a scale-out should be balanced, where the fleet's pods are, and the
// bounds on how fast this pod moves its Baton connections (rebalancer.ts uses them), validated up front.

import { describe, durationOption, invalid, numberInRange, positiveNumber, range } from './option-checks.js';

/** A pod's peers: admin base URLs (`http://10.0.0.7:9090`) or DNS names (`dns:gateway-peers:9090`). */
export type PeerList = readonly string[];

export interface RebalanceOptions {
  /**
   * Within how long after a scale-out (new pods ready) the fleet should be balanced, in ms. Moves are spread
   * over 40 % of it, after two readings of the fleet agree. Required.
   */
  horizonMs: number;
  /**
   * Every pod of the fleet, this one included or not: `http://host:port` (its admin server) or
   * `dns:NAME:PORT` (every address NAME resolves to, read again at each poll: a headless Service lists
   * exactly the ready pods), or a function returning admin URLs. A peer that does not answer, or answers
   * that it is draining, is not counted. Required.
   */
  peers: PeerList | (() => PeerList | Promise<PeerList>);
  /** The path of a peer's admin server that answers its status. Default '/livez' (the liveness path). */
  peerPath?: string;
  /** How often the fleet is read, in ms. Default horizonMs / 10, between 1000 and 5000. */
  pollIntervalMs?: number;
  /** How long a peer may take to answer, in ms. Default 1000. */
  peerTimeoutMs?: number;
  /** At most this many connections hinted to move per second by this pod. Default 50. */
  maxMovesPerSecond?: number;
  /**
   * A pod starts moving when it holds more than share × (1 + tolerance) and moves down to
   * share × (1 + tolerance / 3); movers are refused above that. Default 0.15.
   */
  tolerance?: number;
  /**
   * This pod's release (image tag, chart version). While a serving peer reports another one, a release is
   * under way and nothing moves: a client moved now could land on a pod about to be drained and move twice.
   * Default: `identity.version`; without either, versions are not compared.
   */
  version?: string;
}

export interface ResolvedRebalanceOptions {
  readonly horizonMs: number;
  readonly peers: () => Promise<PeerList>;
  readonly peerPath: string;
  readonly pollIntervalMs: number;
  readonly peerTimeoutMs: number;
  readonly maxMovesPerSecond: number;
  readonly tolerance: number;
  readonly version: string | undefined;
}

const KNOWN_REBALANCE_KEYS = {
  horizonMs: true,
  peers: true,
  peerPath: true,
  pollIntervalMs: true,
  peerTimeoutMs: true,
  maxMovesPerSecond: true,
  tolerance: true,
  version: true,
} as const satisfies Record<keyof RebalanceOptions, true>;

export function rebalanceOption(value: unknown, hintsConnections: boolean): ResolvedRebalanceOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      `The "rebalance" option must be an object such as { horizonMs: 60000, peers: ['dns:gateway-peers:9090'] }, or false; received ${describe(value)}.`,
    );
  }
  for (const key of Object.keys(value)) {
    if (!(key in KNOWN_REBALANCE_KEYS)) {
      throw invalid(`Unknown rebalance option "${key}". Known: ${Object.keys(KNOWN_REBALANCE_KEYS).join(', ')}.`);
    }
  }
  if (!hintsConnections) {
    throw invalid(
      'The "rebalance" option moves connections with reconnect hints: it needs "hintProtocol" (or "isCapable" and "sendHint").',
    );
  }
  const options = value as RebalanceOptions;
  if (options.horizonMs === undefined) {
    throw invalid('The "rebalance.horizonMs" option is required: within how long a scale-out should be balanced.');
  }
  const horizonMs = durationOption('rebalance.horizonMs', options.horizonMs, 0, 1000);
  const pollDefault = Math.min(5_000, Math.max(1_000, horizonMs / 10));
  const pollIntervalMs = durationOption('rebalance.pollIntervalMs', options.pollIntervalMs, pollDefault, 100);
  const peerPath = options.peerPath ?? '/livez';
  if (typeof peerPath !== 'string' || !peerPath.startsWith('/')) {
    throw invalid(`The "rebalance.peerPath" option must be a path starting with "/"; received ${describe(peerPath)}.`);
  }
  return {
    horizonMs,
    peers: peersOption(options.peers),
    peerPath,
    pollIntervalMs,
    peerTimeoutMs: durationOption('rebalance.peerTimeoutMs', options.peerTimeoutMs, 1_000, 1),
    maxMovesPerSecond: positiveNumber('rebalance.maxMovesPerSecond', options.maxMovesPerSecond, 50),
    tolerance: numberInRange('rebalance.tolerance', options.tolerance, 0.15, 0.01, 1),
    version: versionOption(options.version),
  };
}

function versionOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) {
    throw invalid(
      `The "rebalance.version" option must be a non-empty string (this pod's release); received ${describe(value)}.`,
    );
  }
  return value;
}

function peersOption(value: unknown): () => Promise<PeerList> {
  if (typeof value === 'function') {
    const list = value as () => PeerList | Promise<PeerList>;
    return async () => {
      const peers = await list();
      return Array.isArray(peers) ? peers.filter((peer): peer is string => typeof peer === 'string') : [];
    };
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(
      `The "rebalance.peers" option must list the fleet's pods (http://host:port admin URLs or dns:NAME:PORT), or be a function returning admin URLs; received ${describe(value)}.`,
    );
  }
  const entries = value.map((entry) => peerEntry(entry));
  return () => resolvePeers(entries);
}

type PeerEntry = { url: string } | { host: string; port: number };

function peerEntry(entry: unknown): PeerEntry {
  if (typeof entry !== 'string') throw invalid(`Each rebalance peer must be a string; received ${describe(entry)}.`);
  const dns = /^dns:([A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(entry);
  if (dns) {
    const port = Number(dns[2]);
    if (port < 1 || port > 65_535) throw range(`Rebalance peer "${entry}": the port must be 1 to 65535.`);
    return { host: dns[1] as string, port };
  }
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw invalid(`Rebalance peer "${entry}" is neither an http://host:port URL nor dns:NAME:PORT.`);
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search || url.username || url.password) {
    throw invalid(
      `Rebalance peer "${entry}" must be a bare http://host:port (the peer's admin server), or dns:NAME:PORT.`,
    );
  }
  return { url: url.origin };
}

async function resolvePeers(entries: readonly PeerEntry[]): Promise<PeerList> {
  const { lookup } = await import('node:dns/promises');
  const lists = await Promise.all(
    entries.map(async (entry) => {
      if ('url' in entry) return [entry.url];
      try {
        const addresses = await lookup(entry.host, { all: true });
        return addresses.map(({ address, family }) =>
          family === 6 ? `http://[${address}]:${entry.port}` : `http://${address}:${entry.port}`,
        );
      } catch {
        // A name that does not resolve (no ready pod yet, DNS down) lists nobody: no data, no moves.
        return [];
      }
    }),
  );
  return [...new Set(lists.flat())];
}
