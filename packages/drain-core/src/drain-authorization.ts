// Who may change the drain over HTTP, as a decision over what a request shows. A drain is a write that can
// take a fleet down, so:
// - a terminating drain (the pod goes away: the preStop hook) needs the container's own proof
//   (container-proof.ts: a per-start secret in a file only the container can read), sent to a loopback
//   literal as Host, from a request that is not a browser's (no Origin);
// - a manual drain (a pipeline taking a pod out, cancellable, never ending the process) needs the bearer
//   admin token;
// - a loopback peer alone authorizes nothing: a mesh sidecar, an SSRF or a cross-site request comes from there.
// Readiness, liveness, metrics and GET /drain (the status) stay read-only and open.

import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** 127.0.0.0/8, ::1, and IPv4 loopback seen through a dual-stack socket (::ffff:127.x.y.z). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** A Host header naming a loopback address literally (127.x.y.z, [::1], localhost), with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || isLoopback(name);
}

/** 'container': the preStop hook (a terminating drain); 'token': an operator (a manual drain). */
export type DrainAuthorization = 'container' | 'token' | 'refused';

/** What the decision reads of a request. */
export interface DrainPeer {
  /** The Host header. */
  host: string | undefined;
  /** The Origin header: present on a browser's cross-site request. */
  origin: string | undefined;
  authorization: string | undefined;
  /** The container proof header (container-proof.ts). */
  proof: string | undefined;
}

/**
 * Builds the check for one admin server. Secrets are compared as SHA-256 digests with timingSafeEqual, so
 * neither their content nor their length leaks through timing.
 */
export function drainAuthorizer(
  token: string | undefined,
  proof: () => string | undefined,
): (peer: DrainPeer) => DrainAuthorization {
  const expectedToken = token === undefined ? undefined : digest(token);
  return (peer) => {
    // A browser sends Origin with every cross-site POST and DELETE; the hook and the pipelines send none.
    if (peer.origin !== undefined) return 'refused';
    const expectedProof = proof();
    if (
      expectedProof !== undefined &&
      typeof peer.proof === 'string' &&
      isLoopbackHost(peer.host) &&
      timingSafeEqual(digest(peer.proof), digest(expectedProof))
    )
      return 'container';
    if (expectedToken === undefined) return 'refused';
    const header = peer.authorization;
    if (typeof header !== 'string' || !/^Bearer\s+/i.test(header)) return 'refused';
    const offered = digest(header.replace(/^Bearer\s+/i, '').trim());
    return timingSafeEqual(offered, expectedToken) ? 'token' : 'refused';
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
