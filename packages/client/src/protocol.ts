// Client side of Baton protocol v1 (docs/protocol.md). Kept apart from the server's copy on purpose: the
// client imports nothing server-side; a test checks both copies agree.

export const BATON_PROTOCOL = 'baton.v1';
export const RESUME_PROTOCOL_PREFIX = 'baton.resume.';
export const CONTROL_PREFIX = '\u0000baton:';

export interface Welcome {
  t: 'welcome';
  resumed: boolean;
  resumeError?: string;
}

export interface Reconnect {
  t: 'reconnect';
  deadline: number;
  reason: string;
  token?: string;
}

/** A fresh resume token for a reconnect after an unplanned loss of the server (protocol v1, §4a). */
export interface Checkpoint {
  t: 'checkpoint';
  token: string;
}

export type Control = Welcome | Reconnect | Checkpoint;

/** Servers refuse a resume token longer than this (docs/protocol.md, `maxTokenBytes`): a longer one is never sent. */
export const MAX_TOKEN_CHARS = 4096;

const TOKEN = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_TOKEN_CHARS}}$`);

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
  if (message.t === 'welcome' && typeof message.resumed === 'boolean') {
    const welcome: Welcome = { t: 'welcome', resumed: message.resumed };
    if (typeof message.resumeError === 'string') welcome.resumeError = message.resumeError;
    return welcome;
  }
  if (message.t === 'reconnect' && typeof message.deadline === 'number' && Number.isFinite(message.deadline)) {
    const reconnect: Reconnect = {
      t: 'reconnect',
      deadline: message.deadline,
      reason: typeof message.reason === 'string' ? message.reason : '',
    };
    if (typeof message.token === 'string' && TOKEN.test(message.token)) reconnect.token = message.token;
    return reconnect;
  }
  if (message.t === 'checkpoint' && typeof message.token === 'string' && TOKEN.test(message.token)) {
    return { t: 'checkpoint', token: message.token };
  }
  return null;
}
