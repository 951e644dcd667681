// Who may start a drain over HTTP. A drain is a write that can take a fleet down, so by default only a peer
// on loopback may ask for it (the preStop hook runs `baton-drain` inside the container); from anywhere else,
// only with the configured bearer token. Readiness, liveness and metrics stay read-only and open.

import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** 127.0.0.0/8, ::1, and IPv4 loopback seen through a dual-stack socket (::ffff:127.x.y.z). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

export type DrainAuthorization = 'loopback' | 'token' | 'refused';

/** What the decision reads of a request: the peer's address and its Authorization header. */
export interface DrainPeer {
  remoteAddress: string | undefined;
  authorization: string | undefined;
}

/**
 * Builds the check for one admin server. The token is compared as SHA-256 digests with timingSafeEqual, so
 * neither its content nor its length leaks through timing.
 */
export function drainAuthorizer(token: string | undefined): (peer: DrainPeer) => DrainAuthorization {
  const expected = token === undefined ? undefined : digest(token);
  return (peer) => {
    if (isLoopback(peer.remoteAddress)) return 'loopback';
    if (expected === undefined) return 'refused';
    const header = peer.authorization;
    if (typeof header !== 'string' || !/^Bearer\s+/i.test(header)) return 'refused';
    const offered = digest(header.replace(/^Bearer\s+/i, '').trim());
    return timingSafeEqual(offered, expected) ? 'token' : 'refused';
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
