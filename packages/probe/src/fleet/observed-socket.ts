// One connection attempt, observed: the upgrade's answer (101 with its identity headers, or a refusal with
// its status), the first message that names a version (json:PATH), and the close. The same observer serves
// plain `ws` clients and the sockets a BatonSocket opens (ObservedSocketClass), so both kinds are counted by
// one piece of code.

import type { IncomingMessage } from 'node:http';
import { type ClientOptions, WebSocket } from 'ws';
import type { ClientRecord, ConnectionKind, ConnectionRecord } from './client-record.js';
import { fromHeaders, fromMessage, UNKNOWN, type VersionSource } from './identify.js';

/**
 * Open connections still waiting for the first message that names their version (json:PATH): a report
 * waits for them, briefly (see fleet-worker.ts), so a connection made just before the end is not counted '?'.
 */
export const awaitingVersion = {
  count: 0,
  changed: undefined as (() => void) | undefined,
  add(delta: number): void {
    this.count += delta;
    this.changed?.();
  },
};

export interface SocketSettings {
  versionFrom: VersionSource;
  /** Extra request headers (auth cookies, tokens). */
  headers: Record<string, string>;
  /** Source address of this client's connections (ws's localAddress), or undefined: the kernel's choice. */
  localAddress: string | undefined;
}

/** Hook `ws` so that `record` learns what became of this attempt. */
export function observe(ws: WebSocket, record: ClientRecord, kind: ConnectionKind, settings: SocketSettings): void {
  let connection: ConnectionRecord | undefined;
  let refused = false;
  let awaiting = false;
  const settle = () => {
    if (!awaiting) return;
    awaiting = false;
    awaitingVersion.add(-1);
  };
  ws.once('upgrade', (response: IncomingMessage) => {
    const { version, pod } = fromHeaders(settings.versionFrom, response.headers);
    connection = { at: Date.now(), kind, version, pod };
    record.connections.push(connection);
    if (settings.versionFrom.kind === 'json') {
      awaiting = true;
      awaitingVersion.add(1);
    }
  });
  ws.once('unexpected-response', (_request, response: IncomingMessage) => {
    refused = true;
    const { version, pod } = fromHeaders(settings.versionFrom, response.headers);
    record.refusals.push({ at: Date.now(), status: response.statusCode ?? 0, version, pod });
    response.resume();
    // With a listener here ws leaves the attempt open; ending it makes the client see a failed attempt.
    ws.terminate();
  });
  if (settings.versionFrom.kind === 'json') {
    const path = settings.versionFrom.path;
    const onMessage = (data: unknown) => {
      const version = fromMessage(path, data);
      if (version === undefined || !connection) return;
      if (connection.version === UNKNOWN) connection.version = version;
      ws.off('message', onMessage);
      settle();
    };
    ws.on('message', onMessage);
  }
  ws.on('error', (error) => {
    if (refused || connection) return;
    record.failures++;
    record.lastError = error.message;
  });
  ws.once('close', () => {
    if (connection) connection.closedAt = Date.now();
    settle();
  });
}

export function socketOptions(settings: SocketSettings): ClientOptions {
  return {
    headers: settings.headers,
    ...(settings.localAddress ? { localAddress: settings.localAddress } : {}),
    // A client that cannot reach the server in 10 s counts a failure and backs off, as a browser would.
    handshakeTimeout: 10_000,
  };
}

/**
 * A ws WebSocket class for BatonSocket's `WebSocket` option. BatonSocket picks the next URL (its `url`
 * option) immediately before constructing the socket, so the fleet claims the record and the reason there
 * and the constructor takes them: one class for every client of a worker.
 */
export class ObservedSocket extends WebSocket {
  static claim: { record: ClientRecord; kind: ConnectionKind; settings: SocketSettings } | undefined;

  constructor(url: string, protocols?: string | string[]) {
    const claim = ObservedSocket.claim;
    ObservedSocket.claim = undefined;
    super(url, protocols, claim ? socketOptions(claim.settings) : {});
    if (claim) observe(this, claim.record, claim.kind, claim.settings);
  }
}
