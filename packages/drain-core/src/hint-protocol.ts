// Server side of Baton protocol v1 (docs/protocol.md): capability and resume tokens travel as offered
// subprotocols, control messages are text frames with a reserved prefix. This file holds the wire format;
// the controller decides when to send what.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';

export const BATON_PROTOCOL = 'baton.v1';
export const RESUME_PROTOCOL_PREFIX = 'baton.resume.';
/** Offered by a client moving because of a rebalance hint: a pod over its share may send it elsewhere. */
export const REBALANCE_PROTOCOL = 'baton.rebalance';
/** Every control message is a text frame starting with these 7 characters, then JSON. */
export const CONTROL_PREFIX = '\u0000baton:';
export const PROTOCOL_VERSION = 1;

export interface WelcomeMessage {
  t: 'welcome';
  v: 1;
  /**
   * This connection's control key: every later control message on it carries the same `k`. The app cannot
   * learn it, so an app frame that imitates a control message (a chat relaying user text) is dropped by the
   * client instead of obeyed (docs/protocol.md §2).
   */
  k: string;
  /** True when the offered resume token was opened and its state handed to the app. */
  resumed: boolean;
  /** Present when a token was offered but could not be used: why (a BATON_ERR_TOKEN_* code). */
  resumeError?: string;
}

export interface ReconnectMessage {
  t: 'reconnect';
  v: 1;
  /** The connection's control key, as announced in its welcome. */
  k: string;
  /**
   * Epoch ms after which the server closes this connection with 1012. For reason 'rebalance' the server never
   * closes it: the deadline only bounds the client's tries, and a client that found no pod stays where it is.
   */
  deadline: number;
  reason: string;
  /** Resume token to offer to the next pod; absent when the server has no handoff configured or sealing failed. */
  token?: string;
}

export interface CheckpointMessage {
  t: 'checkpoint';
  v: 1;
  /** The connection's control key, as announced in its welcome. */
  k: string;
  /** A resume token of the session as of now, for a reconnect after the server is lost without a hint. */
  token: string;
}

export type ControlMessage = WelcomeMessage | ReconnectMessage | CheckpointMessage;

/** A fresh control key for one connection: 128 random bits, base64url (22 characters). */
export function newControlKey(): string {
  return randomBytes(16).toString('base64url');
}

export function encodeControl(message: ControlMessage): string {
  return CONTROL_PREFIX + JSON.stringify(message);
}

/** The entries of a Sec-WebSocket-Protocol header, trimmed. */
export function offeredProtocols(request: IncomingMessage | undefined): string[] {
  const header = request?.headers['sec-websocket-protocol'];
  if (typeof header !== 'string' || header.length === 0) return [];
  return header.split(',').map((entry) => entry.trim());
}

export function isBatonEntry(protocol: string): boolean {
  return protocol === BATON_PROTOCOL || protocol === REBALANCE_PROTOCOL || protocol.startsWith(RESUME_PROTOCOL_PREFIX);
}

/** Whether the upgrade comes from a client moving for a rebalance. */
export function offersRebalance(request: IncomingMessage | undefined): boolean {
  return offeredProtocols(request).includes(REBALANCE_PROTOCOL);
}

/** The resume token offered with the upgrade, if any (the first one). */
export function offeredResumeToken(request: IncomingMessage): string | undefined {
  const entry = offeredProtocols(request).find((protocol) => protocol.startsWith(RESUME_PROTOCOL_PREFIX));
  return entry?.slice(RESUME_PROTOCOL_PREFIX.length);
}

type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false;

/**
 * Wrap the app's handleProtocols so it never sees Baton's entries. When the app selects nothing and the
 * client offered baton.v1, select baton.v1: a client that offered protocols must get one back (ws clients
 * fail the handshake otherwise).
 */
export function stripBatonProtocols(original: HandleProtocols | undefined): HandleProtocols {
  return (protocols, request) => {
    let capable = false;
    const app = new Set<string>();
    for (const protocol of protocols) {
      if (protocol === BATON_PROTOCOL) capable = true;
      else if (protocol !== REBALANCE_PROTOCOL && !protocol.startsWith(RESUME_PROTOCOL_PREFIX)) app.add(protocol);
    }
    let selected: string | false = false;
    if (original) selected = original(app, request);
    else if (app.size > 0) selected = app.values().next().value as string;
    return selected || (capable ? BATON_PROTOCOL : false);
  };
}

/** Put the stripping handleProtocols in place on a server; returns the function that puts the app's back. */
export function installProtocolFilter(server: WebSocketServer): () => void {
  const original = server.options.handleProtocols as HandleProtocols | undefined;
  const filtered = stripBatonProtocols(original ?? undefined);
  server.options.handleProtocols = filtered;
  return () => {
    if (server.options.handleProtocols === filtered) server.options.handleProtocols = original;
  };
}

/** What the new pod knows about a connection's resume attempt; read it with DrainController#resumeOf. */
export type ResumeResult =
  | { readonly resumed: true; readonly state: unknown }
  | { readonly resumed: false; readonly error?: string };

/** Seals and opens session state; @baton/handoff's Handoff fits. */
export interface SessionHandoff {
  /** Seal a connection's state; `session` is its socket (a store-mode handoff keeps one live token per session). */
  seal(state: unknown, session?: object): string | Promise<string>;
  open(token: string): unknown;
  /** Undo an open() whose upgrade was then refused or dropped, so the client's retry can resume (store mode). */
  restore?(token: string, state: unknown): void | Promise<void>;
}

export interface HintProtocolOptions {
  /** Seal the snapshot into the hint's resume token and open offered tokens. Without it, clients move but start fresh. */
  handoff?: SessionHandoff;
  /** The session state to hand off, taken at the connection's hint time (and at each checkpoint). */
  snapshot?: (socket: WebSocket) => unknown;
  /**
   * Send every capable connection a `checkpoint` (a fresh resume token) this often, in ms, so a client whose
   * server dies without a hint resumes as of its last checkpoint. Needs `handoff` and `snapshot`. Default: off
   * (`checkpoint(socket)` still works).
   */
  checkpointIntervalMs?: number;
}
