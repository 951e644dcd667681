// One WebSocket connection as the drain sees it, and the hook points the hint protocol builds on.

import type { WebSocket } from 'ws';

/** open → (hinted) → closing. A connection leaves tracking when its socket emits 'close'. */
export type ConnectionPhase = 'open' | 'hinted' | 'closing';

export interface TrackedConnection {
  readonly socket: WebSocket;
  /** Whether this connection speaks the Baton hint protocol (decided by the `isCapable` option). */
  readonly capable: boolean;
  /** Its phase when this view was taken. */
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

// What drain-core keeps per connection is one small integer in a Map keyed by the socket: no object, no
// upgrade request, no timestamp (memory per idle connection is a benchmarked goal; bench/ measures it).
// TrackedConnection objects are made only when a hook or a caller asks for one.
export type ConnectionFlags = number;

const PHASE_MASK = 0b11;
const CAPABLE = 0b100;
/** Arrived by a rebalance move, or hinted by one: rebalancing never picks it (again). */
const REBALANCED = 0b1000;
const PHASES: readonly ConnectionPhase[] = ['open', 'hinted', 'closing'];

export function connectionFlags(phase: ConnectionPhase, capable: boolean): ConnectionFlags {
  return PHASES.indexOf(phase) | (capable ? CAPABLE : 0);
}

export function phaseOf(flags: ConnectionFlags): ConnectionPhase {
  return PHASES[flags & PHASE_MASK] as ConnectionPhase;
}

export function isCapable(flags: ConnectionFlags): boolean {
  return (flags & CAPABLE) !== 0;
}

export function withPhase(flags: ConnectionFlags, phase: ConnectionPhase): ConnectionFlags {
  return (flags & ~PHASE_MASK) | PHASES.indexOf(phase);
}

export function trackedConnection(socket: WebSocket, flags: ConnectionFlags): TrackedConnection {
  return { socket, capable: isCapable(flags), phase: phaseOf(flags) };
}

export function isRebalanced(flags: ConnectionFlags): boolean {
  return (flags & REBALANCED) !== 0;
}

export function withRebalanced(flags: ConnectionFlags): ConnectionFlags {
  return flags | REBALANCED;
}
