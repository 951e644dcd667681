// How the drain treats connections, as one interface the controller calls: which connections can move
// themselves, how to hint one, what to do before an upgrade completes and once a connection is accepted.
// The controller knows no protocol: protocol v1 (protocol-v1.ts) is one set of hooks, the low-level
// `isCapable`/`sendHint` options are another.

import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ResumeResult } from './hint-protocol.js';
import type { ResolvedLogger } from './logger.js';
import type { SendHint } from './tracked-connection.js';

export interface ConnectionHooks {
  /** Whether this connection can move itself when hinted. Must not throw (the controller guards it anyway). */
  readonly isCapable: ((socket: WebSocket, request: IncomingMessage | undefined) => boolean) | undefined;
  readonly sendHint: SendHint | undefined;
  /** Work to finish before the upgrade completes (opening a resume token). Must not reject. */
  readonly admit?: (request: IncomingMessage) => Promise<void>;
  /** Any connection was accepted (capable or not), before `accepted`: the upgrade's admit() work is final. */
  readonly upgraded?: (request: IncomingMessage) => void;
  /** A capable connection was accepted; runs before the app's own 'connection' handler. */
  readonly accepted?: (socket: WebSocket, request: IncomingMessage | undefined) => void;
  /** Per-server set-up; returns its removal. */
  readonly install?: (server: WebSocketServer) => () => void;
  /** Send the connection a fresh resume token (protocol v1's checkpoint); resolves false when none was sent. */
  readonly checkpoint?: (socket: WebSocket) => Promise<boolean>;
  /** What became of an upgrade's resume token. */
  readonly resumeOf?: (request: IncomingMessage) => ResumeResult;
}

/** The low-level hooks given as options, guarded so a throwing hook costs one connection's hint, not the drain. */
export function customHooks(
  isCapable: ConnectionHooks['isCapable'],
  sendHint: SendHint | undefined,
  logger: ResolvedLogger,
): ConnectionHooks {
  return {
    isCapable: isCapable
      ? (socket, request) => {
          try {
            return isCapable(socket, request) === true;
          } catch (error) {
            logger.error({ err: String(error) }, 'baton: isCapable threw; treating the connection as plain');
            return false;
          }
        }
      : undefined,
    sendHint,
  };
}
