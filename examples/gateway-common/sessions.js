// @ts-check
// The example gateways' application: each connection is a session with an id and a counter. Every tickMs the
// server pushes {"type":"tick","id":"ID:COUNTER","session":ID,"n":COUNTER,"version":APP_VERSION} (`id` names the
// message, for a Baton client's dedupe or the relay's --id-field); a text message
// {"type":"echo",...} comes back unchanged. A session handed off by the old pod continues where it was.

import { randomUUID } from 'node:crypto';

/** Ticks go out in this many slices per tickMs, so thousands of sessions are not all sent to in one burst. */
const SLICES = 10;

/**
 * @typedef {{ id: string, n: number, slice: number }} Session
 * @typedef {{ readyState: number, OPEN: number, send(data: string): void, on(event: string, listener: (...args: any[]) => void): unknown }} SessionSocket
 */

/**
 * @param {{ appVersion: string, tickMs: number }} options
 */
export function createSessionHub({ appVersion, tickMs }) {
  /** @type {Map<SessionSocket, Session>} */
  const sessions = new Map();
  const version = JSON.stringify(appVersion);

  let accepted = 0;
  let slice = 0;
  // One interval for all sessions, not one per connection; each session ticks once per tickMs, in its own
  // tenth of the interval (a burst of 5,000 sends every tickMs would stall the pod and its clients at once).
  const ticker = setInterval(() => {
    slice = (slice + 1) % SLICES;
    for (const [socket, session] of sessions) {
      if (session.slice !== slice || socket.readyState !== socket.OPEN) continue;
      session.n += 1;
      socket.send(
        `{"type":"tick","id":"${session.id}:${session.n}","session":"${session.id}","n":${session.n},"version":${version}}`,
      );
    }
  }, tickMs / SLICES);
  ticker.unref();

  return {
    /**
     * Start (or resume) the session of a new connection.
     * @param {SessionSocket} socket
     * @param {import('@baton/drain-core').ResumeResult} resume
     */
    accept(socket, resume) {
      const slot = accepted++ % SLICES;
      sessions.set(socket, { ...(restoredSession(resume) ?? { id: randomUUID(), n: 0 }), slice: slot });
      socket.on('message', (/** @type {Buffer} */ data, /** @type {boolean} */ isBinary) => {
        if (isBinary) return reply(socket, { type: 'error', code: 'BAD_MESSAGE', message: 'send JSON text' });
        let message;
        try {
          message = JSON.parse(data.toString());
        } catch {
          return reply(socket, { type: 'error', code: 'BAD_MESSAGE', message: 'send JSON text' });
        }
        if (message && message.type === 'echo') socket.send(data.toString());
        else reply(socket, { type: 'error', code: 'UNKNOWN_TYPE', message: 'known types: echo' });
      });
      socket.on('close', () => sessions.delete(socket));
      socket.on('error', () => {});
    },
    /** The state handed to the next pod at hint time. @param {SessionSocket} socket */
    snapshot(socket) {
      const session = sessions.get(socket);
      return session && { id: session.id, n: session.n };
    },
    stop() {
      clearInterval(ticker);
    },
  };
}

/**
 * A resumed session's state came from a token this cluster sealed, but the app still checks its shape (and,
 * in a real gateway, re-checks the user's authorisation).
 * @param {import('@baton/drain-core').ResumeResult} resume
 * @returns {{ id: string, n: number } | undefined}
 */
function restoredSession(resume) {
  if (!resume.resumed) return undefined;
  const state = /** @type {{ id?: unknown, n?: unknown } | null} */ (resume.state);
  if (typeof state?.id !== 'string' || !Number.isSafeInteger(state.n)) return undefined;
  return { id: state.id, n: /** @type {number} */ (state.n) };
}

/** @param {SessionSocket} socket @param {unknown} value */
function reply(socket, value) {
  socket.send(JSON.stringify(value));
}
