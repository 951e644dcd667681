// Which close code crosses the relay. A code is forwarded when an endpoint may send it (RFC 6455 §7.4:
// 1000–1003 and 1007–1014 defined, 3000–4999 registered or private); 1005 (no code) and 1006 (no close frame)
// only describe a close and are never sent.

export const CLOSE_NORMAL = 1000;
export const CLOSE_POLICY = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_SERVICE_RESTART = 1012;

export function isSendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * The code a client gets when its upstream is gone for good: the gateway's own code when it sent one (1012:
 * its pod drained and the move failed), 1011 when the upstream vanished without a close frame (a crash).
 */
export function clientCodeForUpstreamClose(code: number): number {
  if (code === 1005) return CLOSE_NORMAL;
  return isSendable(code) ? code : CLOSE_INTERNAL_ERROR;
}

/** The code the upstream gets when the client closes. */
export function upstreamCodeForClientClose(code: number): number {
  return isSendable(code) ? code : CLOSE_NORMAL;
}
