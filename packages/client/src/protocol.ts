// Client side of Baton protocol v1 (docs/protocol.md). Kept apart from the server's copy on purpose: the
// client imports nothing server-side; a test checks both copies agree.

export const BATON_PROTOCOL = 'baton.v1';
export const RESUME_PROTOCOL_PREFIX = 'baton.resume.';
/** Offered on a move for a rebalance (a hint with reason 'rebalance'): a pod holding its share refuses it. */
export const REBALANCE_PROTOCOL = 'baton.rebalance';
/** A rebalance move tries this many pods at most (refused ones included) before the client stays put. */
export const REBALANCE_TRIES = 8;
export const CONTROL_PREFIX = '\u0000baton:';

export interface Welcome {
  t: 'welcome';
  /** The connection's control key; absent from servers older than the key (docs/protocol.md §2). */
  k?: string;
  resumed: boolean;
  resumeError?: string;
}

export interface Reconnect {
  t: 'reconnect';
  k?: string;
  deadline: number;
  reason: string;
  token?: string;
}

/** A fresh resume token for a reconnect after an unplanned loss of the server (protocol v1, §4a). */
export interface Checkpoint {
  t: 'checkpoint';
  k?: string;
  token: string;
}

export type Control = Welcome | Reconnect | Checkpoint;

/** Servers refuse a resume token longer than this (docs/protocol.md, `maxTokenBytes`): a longer one is never sent. */
export const MAX_TOKEN_CHARS = 4096;

const TOKEN = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_TOKEN_CHARS}}$`);
/** A control key as servers make them: base64url, 16 to 64 characters. */
const KEY = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * `undefined` for an app message; a Control for a valid control message; `null` for a control frame that
 * is malformed or of an unknown type (dropped: never delivered to the app, never thrown).
 */
export function parseControl(data: unknown): Control | null | undefined {
  if (typeof data !== 'string' || !data.startsWith(CONTROL_PREFIX)) return undefined;
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(data.slice(CONTROL_PREFIX.length));
  } catch {
    return null;
  }
  if (typeof message !== 'object' || message === null || message.v !== 1) return null;
  // A key that is there but not a key makes the whole message malformed (never "no key").
  if (message.k !== undefined && !(typeof message.k === 'string' && KEY.test(message.k))) return null;
  const k = message.k === undefined ? {} : { k: message.k as string };
  if (message.t === 'welcome' && typeof message.resumed === 'boolean') {
    const welcome: Welcome = { t: 'welcome', ...k, resumed: message.resumed };
    if (typeof message.resumeError === 'string') welcome.resumeError = message.resumeError;
    return welcome;
  }
  if (message.t === 'reconnect' && typeof message.deadline === 'number' && Number.isFinite(message.deadline)) {
    const reconnect: Reconnect = {
      t: 'reconnect',
      ...k,
      deadline: message.deadline,
      reason: typeof message.reason === 'string' ? message.reason : '',
    };
    if (typeof message.token === 'string' && TOKEN.test(message.token)) reconnect.token = message.token;
    return reconnect;
  }
  if (message.t === 'checkpoint' && typeof message.token === 'string' && TOKEN.test(message.token)) {
    return { t: 'checkpoint', ...k, token: message.token };
  }
  return null;
}

/**
 * What one connection's server may tell it, given what it already said. The first control message must be the
 * welcome (the server sends it before any app message); it fixes the connection's key. After it, only messages
 * carrying that key are the server's: anything else with the control prefix came through the app (a chat
 * relaying a user's text, say) and is dropped, as is a second welcome. A welcome without a key comes from a
 * server older than keys: its messages are taken as before.
 */
export class ControlGate {
  // undefined: no welcome yet; null: welcomed by a server without keys.
  #key: string | null | undefined;

  admit(control: Control): boolean {
    if (this.#key === undefined) {
      if (control.t !== 'welcome') return false;
      this.#key = control.k ?? null;
      return true;
    }
    if (control.t === 'welcome') return false;
    return this.#key === null || control.k === this.#key;
  }
}
