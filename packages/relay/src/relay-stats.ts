// What the relay counts, read by its metrics (metrics.ts) and by tests.

export interface RelayStats {
  /** Client connections relayed now. */
  connections: number;
  /** Upstream moves that followed a gateway's hint, the client seeing nothing. */
  moves: number;
  /** Upstreams gone for good (a failed move, a crash): their clients were closed. */
  upstreamLost: number;
  /** Times a client read too slowly and its upstream was paused until it caught up. */
  upstreamPauses: number;
  /** Times the relay stopped reading a client because what waited for its upstream passed the bound (a move). */
  clientPauses: number;
  refused: { upstreamRefused: number; upstreamTimeout: number; clientTooSlow: number; clientTooFast: number };
}

export function emptyStats(): RelayStats {
  return {
    connections: 0,
    moves: 0,
    upstreamLost: 0,
    upstreamPauses: 0,
    clientPauses: 0,
    refused: { upstreamRefused: 0, upstreamTimeout: 0, clientTooSlow: 0, clientTooFast: 0 },
  };
}
