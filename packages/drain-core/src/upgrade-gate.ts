// Refusing upgrades once the pod is closing. ws reads `options.verifyClient` on every handshake, in server
// and noServer mode alike, and its callback form is the one documented way to answer with a status and
// headers (503 + Retry-After). So attaching composes a gate in front of the app's own verifyClient, and
// detaching puts the app's back. No method of ws is replaced.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { VerifyClientCallbackAsync, VerifyClientCallbackSync, WebSocketServer } from 'ws';
import { ErrorCodes } from './errors.js';

type VerifyClient = VerifyClientCallbackSync | VerifyClientCallbackAsync;
type VerifyInfo = { origin: string; secure: boolean; req: IncomingMessage };
type VerifyDone = (result: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void;

export interface UpgradeGate {
  /** True while upgrades are accepted. */
  accepts(): boolean;
  /** Work to finish before the app's own verifyClient runs (opening a resume token). Must not throw. */
  admit?: (request: IncomingMessage) => void | Promise<void>;
  /** Called for each upgrade refused because the server is closing. */
  onRefused(): void;
  retryAfterSeconds: number;
  /** Headers every refusal carries too (the identity headers: which pod refused). */
  headers?: Readonly<OutgoingHttpHeaders>;
  /**
   * Admission control, after `admit` (so it may know whether a resume token opened) and before the app's own
   * verifyClient: refuse with the seconds to wait, or admit.
   */
  admission?: (request: IncomingMessage) => { admitted: true } | { admitted: false; retryAfterSeconds: number };
  /** Rebalancing: false sends a moving client on to another pod (503, Retry-After 0). Plain clients never reach it. */
  steer?: (request: IncomingMessage) => boolean;
}

const REFUSAL_BODY = JSON.stringify({
  error: { code: ErrorCodes.DRAINING, message: 'This server is draining; retry and you will reach another one.' },
});
const ELSEWHERE_BODY = JSON.stringify({
  error: {
    code: ErrorCodes.REBALANCE_ELSEWHERE,
    message: 'This server holds its share of the fleet; a rebalancing client tries another one at once.',
  },
});
const ADMISSION_BODY = JSON.stringify({
  error: {
    code: ErrorCodes.ADMISSION_LIMIT,
    message: 'This server accepts no more connections this second; retry after the Retry-After delay.',
  },
});

/** Install the gate; returns the function that removes it. */
export function installUpgradeGate(server: WebSocketServer, gate: UpgradeGate): () => void {
  const original = server.options.verifyClient as VerifyClient | undefined;
  const gated = (info: VerifyInfo, done: VerifyDone): void => {
    if (!gate.accepts()) {
      gate.onRefused();
      done(false, 503, REFUSAL_BODY, {
        ...gate.headers,
        'Retry-After': String(Math.ceil(gate.retryAfterSeconds)),
        'Content-Type': 'application/json',
      });
      return;
    }
    // Before any resume token is opened: a mover sent elsewhere spends nothing here.
    if (gate.steer && !gate.steer(info.req)) {
      done(false, 503, ELSEWHERE_BODY, { ...gate.headers, 'Retry-After': '0', 'Content-Type': 'application/json' });
      return;
    }
    const verify = () => {
      const admission = gate.admission?.(info.req);
      if (admission && !admission.admitted) {
        return done(false, 503, ADMISSION_BODY, {
          ...gate.headers,
          'Retry-After': String(admission.retryAfterSeconds),
          'Content-Type': 'application/json',
        });
      }
      if (!original) return done(true);
      if (original.length >= 2) return (original as VerifyClientCallbackAsync)(info, done);
      done((original as VerifyClientCallbackSync)(info));
    };
    const pending = gate.admit?.(info.req);
    if (pending) pending.then(verify, verify);
    else verify();
  };
  server.options.verifyClient = gated;
  return () => {
    // Only restore if nobody replaced our gate since.
    if (server.options.verifyClient === gated) server.options.verifyClient = original;
  };
}

/** Duck-typed: a ws WebSocketServer from any installed copy of ws. */
export function isWebSocketServer(value: unknown): value is WebSocketServer {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<WebSocketServer>;
  return (
    typeof candidate.handleUpgrade === 'function' &&
    typeof candidate.on === 'function' &&
    typeof candidate.options === 'object' &&
    candidate.options !== null
  );
}
