// @ts-check
// A small WebSocket gateway on `ws` + @baton/drain-core, the shape a team would copy.
// Each connection is a session (id, counter); every TICK_MS the server pushes
//   {"type":"tick","session":ID,"n":COUNTER,"version":APP_VERSION}
// and a text message {"type":"echo",...} comes back unchanged. SIGTERM or GET /drain on the admin port
// drains it: upgrades accepted while endpoints propagate, then 1012 closes spread over the window, then exit 0.
//
//   PORT=8080 ADMIN_PORT=9090 APP_VERSION=v1 node examples/ws-gateway/server.js

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { DrainController } from '@baton/drain-core';
import { Handoff } from '@baton/handoff';
import { WebSocketServer } from 'ws';
import { readConfig } from './config.js';

/** JSON lines on stdout, pino-shaped, so the lab and tests can follow what the gateway does. */
const logger = {
  /** @param {Record<string, unknown>} object @param {string} msg */
  info: (object, msg) => log('info', object, msg),
  /** @param {Record<string, unknown>} object @param {string} msg */
  warn: (object, msg) => log('warn', object, msg),
  /** @param {Record<string, unknown>} object @param {string} msg */
  error: (object, msg) => log('error', object, msg),
};

/** @param {string} level @param {Record<string, unknown>} object @param {string} msg */
function log(level, object, msg) {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...object })}\n`);
}

/** @type {Map<import('ws').WebSocket, { id: string, n: number }>} */
const sessions = new Map();

/** @type {ReturnType<typeof readConfig>} */
let config;
/** @type {DrainController} */
let drain;
try {
  config = readConfig(process.env);
  const handoff = config.handoffKeys ? new Handoff({ keys: config.handoffKeys }) : undefined;
  drain = new DrainController({
    gracePeriodMs: config.gracePeriodMs,
    propagationDelayMs: config.propagationDelayMs,
    drainWindowMs: config.drainWindowMs,
    closeTimeoutMs: config.closeTimeoutMs,
    safetyMarginMs: config.safetyMarginMs,
    admin: { port: config.adminPort, host: config.adminHost },
    logger,
    // Baton clients get a reconnect hint carrying their session (id, counter), sealed; the new pod resumes it.
    hintProtocol: handoff ? { handoff, snapshot: (socket) => sessions.get(socket) } : true,
  });
} catch (error) {
  // An impossible budget is a start-up error, not a surprise at SIGKILL.
  const { code } = /** @type {{ code?: string }} */ (error);
  logger.error({ code, err: String(error) }, 'invalid configuration');
  process.exit(2);
}

const server = createServer((_req, res) => {
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: 'this is a WebSocket endpoint' }));
});
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
drain.attach(wss);

wss.on('connection', (socket, request) => {
  const session = restoredSession(drain.resumeOf(request)) ?? { id: randomUUID(), n: 0 };
  sessions.set(socket, session);
  socket.on('message', (data, isBinary) => {
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
});

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

/** @param {import('ws').WebSocket} socket @param {unknown} value */
function reply(socket, value) {
  socket.send(JSON.stringify(value));
}

// One interval for all sessions, not one per connection.
const ticker = setInterval(() => {
  for (const [socket, session] of sessions) {
    if (socket.readyState !== socket.OPEN) continue;
    session.n += 1;
    socket.send(
      `{"type":"tick","session":"${session.id}","n":${session.n},"version":${JSON.stringify(config.appVersion)}}`,
    );
  }
}, config.tickMs);
ticker.unref();

drain.on('state', ({ from, to, trigger }) => logger.info({ from, to, trigger }, 'drain state'));
drain.on('drained', (report) => {
  clearInterval(ticker);
  server.close();
  logger.info({ report }, 'drained');
});

server.on('error', (error) => {
  logger.error({ err: String(error) }, 'public server error');
  process.exit(1);
});
try {
  await drain.start();
} catch (error) {
  logger.error({ code: /** @type {{ code?: string }} */ (error).code, err: String(error) }, 'admin server failed');
  process.exit(1);
}
server.listen(config.port, config.host, () => {
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  logger.info(
    {
      port: address.port,
      adminPort: drain.adminAddress()?.port,
      version: config.appVersion,
      budget: drain.budget,
    },
    'listening',
  );
});
