// The ws servers a controller drains: attaching one puts the controller's connection listener first in line,
// its upgrade gate in front of the app's verifyClient and the connection hooks' per-server pieces in place;
// detaching takes them all away again. Connections opened before attach() are handed over too.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ConnectionHooks } from './connection-hooks.js';
import { BatonError, codedError, ErrorCodes } from './errors.js';
import { installUpgradeGate, isWebSocketServer, type UpgradeGate } from './upgrade-gate.js';

export interface AttachmentTarget {
  readonly hooks: ConnectionHooks;
  readonly gate: Omit<UpgradeGate, 'admit'>;
  /** Headers added to every 101 response (the identity option); empty for none. */
  readonly responseHeaders: Readonly<OutgoingHttpHeaders>;
  /** Why attaching is refused now (the drain is closing), or undefined. */
  refusal(): string | undefined;
  track(socket: WebSocket, request: IncomingMessage | undefined): void;
}

export class ServerAttachments {
  readonly #servers = new Map<WebSocketServer, () => void>();
  readonly #target: AttachmentTarget;

  constructor(target: AttachmentTarget) {
    this.#target = target;
  }

  attach(server: WebSocketServer): void {
    if (!isWebSocketServer(server)) {
      throw codedError(TypeError, ErrorCodes.INVALID_SERVER, 'attach() needs a ws WebSocketServer instance.');
    }
    if (this.#servers.has(server)) {
      throw new BatonError(
        ErrorCodes.INVALID_SERVER,
        'This WebSocketServer is already attached to this DrainController.',
      );
    }
    const refusal = this.#target.refusal();
    if (refusal) throw new BatonError(ErrorCodes.NOT_SERVING, refusal);
    const { hooks, gate, track, responseHeaders } = this.#target;
    const onConnection = (socket: WebSocket, request: IncomingMessage) => track(socket, request);
    // ws emits 'headers' with the 101 response's lines before writing them: the documented way to add one.
    const extra = Object.entries(responseHeaders).map(([name, value]) => `${name}: ${value}`);
    const onHeaders = (headers: string[]) => {
      headers.push(...extra);
    };
    if (extra.length > 0) server.on('headers', onHeaders);
    // First in line, so the welcome precedes anything the app's own handler sends.
    server.prependListener('connection', onConnection);
    const removeGate = installUpgradeGate(server, { ...gate, ...(hooks.admit ? { admit: hooks.admit } : {}) });
    const uninstall = hooks.install?.(server);
    this.#servers.set(server, () => {
      server.off('connection', onConnection);
      server.off('headers', onHeaders);
      removeGate();
      uninstall?.();
    });
    for (const socket of server.clients ?? []) track(socket, undefined);
  }

  detach(server: WebSocketServer): void {
    const remove = this.#servers.get(server);
    if (!remove) return;
    remove();
    this.#servers.delete(server);
  }

  detachAll(): void {
    for (const server of [...this.#servers.keys()]) this.detach(server);
  }
}
