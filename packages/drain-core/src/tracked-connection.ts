// One WebSocket connection as the drain sees it, and the hook points the hint protocol builds on.

import type { WebSocket } from 'ws';

/** open → (hinted) → closing. A connection leaves tracking when its socket emits 'close'. */
export type ConnectionPhase = 'open' | 'hinted' | 'closing';

export interface TrackedConnection {
  readonly socket: WebSocket;
  /** Whether this connection speaks the Baton hint protocol (decided by the `isCapable` option). */
  readonly capable: boolean;
  /** Epoch ms when Baton started tracking it. */
  readonly trackedAt: number;
  readonly phase: ConnectionPhase;
}

export interface HintContext {
  /** Epoch ms by which the connection is closed with 1012 if it has not moved itself. */
  readonly deadlineAt: number;
  /** The close reason the drain would use. */
  readonly reason: string;
}

/**
 * Called at a capable connection's scheduled time instead of close(1012). Return true when a hint was sent:
 * the drain then waits until the hint deadline before closing. Return false to close now.
 */
export type SendHint = (connection: TrackedConnection, context: HintContext) => boolean;

// Deliberately small: no upgrade request is kept (an IncomingMessage per connection would cost more than
// the rest of the record many times over; bench/ measures it). Decide from the request in isCapable.
export class ConnectionRecord implements TrackedConnection {
  phase: ConnectionPhase = 'open';
  readonly trackedAt = Date.now();
  constructor(
    readonly socket: WebSocket,
    readonly capable: boolean,
  ) {}
}
