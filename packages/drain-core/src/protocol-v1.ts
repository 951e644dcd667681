// The server's side of Baton protocol v1 (docs/protocol.md) as connection hooks: a connection is capable when
// it offered `baton.v1`; it is welcomed before the app's handler runs; its offered resume token is opened
// before the upgrade completes; its hint is a `reconnect` control message carrying a freshly sealed token.
// The wire format lives in hint-protocol.ts.

import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { ConnectionHooks } from './connection-hooks.js';
import { ErrorCodes } from './errors.js';
import {
  BATON_PROTOCOL,
  encodeControl,
  type HintProtocolOptions,
  installProtocolFilter,
  newControlKey,
  offeredProtocols,
  offeredResumeToken,
  type ResumeResult,
} from './hint-protocol.js';
import type { ResolvedLogger } from './logger.js';
import type { SendHint } from './tracked-connection.js';

export function protocolV1Hooks(
  protocol: HintProtocolOptions,
  logger: ResolvedLogger,
  counts: { resumed: number; resumeRefused: number },
): ConnectionHooks {
  // Keyed by the upgrade request ws hands to 'connection': nothing is kept once the request is collected.
  const resumes = new WeakMap<IncomingMessage, ResumeResult>();
  // Each capable connection's control key, announced in its welcome and carried by every later control message.
  const controlKeys = new WeakMap<WebSocket, string>();
  // Resumes whose upgrade is not through yet: if the handshake ends without a connection (admission control's
  // 503, the app's verifyClient, a client gone mid-handshake) the socket closes first, and the token is put
  // back so the retry resumes. Removed once the connection is accepted.
  const unsettled = new WeakMap<IncomingMessage, () => void>();

  const admit = async (request: IncomingMessage): Promise<void> => {
    const token = offeredResumeToken(request);
    if (token === undefined) return;
    if (!protocol.handoff) {
      counts.resumeRefused++;
      resumes.set(request, { resumed: false, error: ErrorCodes.RESUME_UNSUPPORTED });
      return;
    }
    try {
      const handoff = protocol.handoff;
      const state = await handoff.open(token);
      counts.resumed++;
      resumes.set(request, { resumed: true, state });
      if (handoff.restore) {
        const socket = request.socket;
        const putBack = () => {
          unsettled.delete(request);
          Promise.resolve()
            .then(() => handoff.restore?.(token, state))
            .catch(() => {});
        };
        if (socket.destroyed) return putBack();
        socket.once('close', putBack);
        unsettled.set(request, () => socket.off('close', putBack));
      }
    } catch (error) {
      // The code only: a token is a bearer secret and never goes to a log.
      const code = errorCode(error) ?? ErrorCodes.TOKEN_MALFORMED;
      counts.resumeRefused++;
      resumes.set(request, { resumed: false, error: code });
      logger.info({ code }, 'baton: resume token refused; starting a fresh session');
    }
  };

  const accepted = (socket: WebSocket, request: IncomingMessage | undefined): void => {
    const resume = request ? resumes.get(request) : undefined;
    const k = newControlKey();
    controlKeys.set(socket, k);
    socket.send(
      encodeControl({
        t: 'welcome',
        v: 1,
        k,
        resumed: resume?.resumed === true,
        ...(resume && !resume.resumed && resume.error ? { resumeError: resume.error } : {}),
      }),
    );
  };

  const sendHint: SendHint = (connection, { deadlineAt, reason }) => {
    const socket = connection.socket;
    const k = controlKeys.get(socket);
    // No key: the connection was never welcomed, so its client would not take a hint from it either.
    if (k === undefined) return false;
    const send = (token?: string) => {
      if (socket.readyState !== socket.OPEN) return;
      socket.send(
        encodeControl({ t: 'reconnect', v: 1, k, deadline: deadlineAt, reason, ...(token ? { token } : {}) }),
      );
    };
    const { handoff, snapshot } = protocol;
    if (!handoff || !snapshot) {
      send();
      return true;
    }
    let state: unknown;
    try {
      state = snapshot(socket);
    } catch (error) {
      logger.error({ err: String(error) }, 'baton: snapshot threw; hinting without a resume token');
      send();
      return true;
    }
    Promise.resolve()
      .then(() => handoff.seal(state, socket))
      .then(send, (error: unknown) => {
        logger.error(
          { code: errorCode(error), err: String(error) },
          'baton: sealing failed; hinting without a resume token',
        );
        send();
      });
    return true;
  };

  const checkpoint = async (socket: WebSocket): Promise<boolean> => {
    const { handoff, snapshot } = protocol;
    const k = controlKeys.get(socket);
    if (!handoff || !snapshot || k === undefined || socket.readyState !== socket.OPEN) return false;
    try {
      const token = await handoff.seal(snapshot(socket), socket);
      if (socket.readyState !== socket.OPEN) return false;
      socket.send(encodeControl({ t: 'checkpoint', v: 1, k, token }));
      return true;
    } catch (error) {
      logger.error({ code: errorCode(error), err: String(error) }, 'baton: checkpoint failed; the previous one stands');
      return false;
    }
  };

  return {
    isCapable: (_socket, request) => offeredProtocols(request).includes(BATON_PROTOCOL),
    upgraded: (request) => {
      unsettled.get(request)?.();
      unsettled.delete(request);
    },
    sendHint,
    checkpoint,
    admit,
    accepted,
    install: installProtocolFilter,
    resumeOf: (request) => resumes.get(request) ?? { resumed: false },
  };
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
