// A ws server on loopback for in-process tests of drain-core and its users, a silent TCP client, and a wait
// for a drain state: the test wiring every package's tests share (one copy, outside any package's src).

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { DrainController, type DrainOptions, type DrainStateName } from '../../packages/drain-core/src/index.js';
import type { Cleanup } from './cleanups.js';

export interface TestServer {
  http: Server;
  wss: WebSocketServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A real http + ws server on 127.0.0.1:0, in ws's server mode or noServer mode. */
export async function startWsServer(
  mode: 'server' | 'noServer',
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<TestServer> {
  const http = createServer();
  let wss: WebSocketServer;
  if (mode === 'server') {
    wss = new WebSocketServer({ ...options, server: http });
  } else {
    wss = new WebSocketServer({ ...options, noServer: true });
    http.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  return {
    http,
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Resolves when the controller enters `state` (or is already past it). */
export function stateReached(controller: DrainController, state: DrainStateName): Promise<void> {
  const order = ['serving', 'draining', 'closing', 'drained'];
  if (order.indexOf(controller.state) >= order.indexOf(state)) return Promise.resolve();
  return new Promise((resolve) => {
    const onState = ({ to }: { to: DrainStateName }) => {
      if (order.indexOf(to) >= order.indexOf(state)) {
        controller.off('state', onState);
        resolve();
      }
    };
    controller.on('state', onState);
  });
}

/**
 * A WebSocket client that completes the opening handshake over a raw TCP socket and then never answers
 * anything, including the close frame: the client a drain must terminate.
 */
export async function openSilentClient(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        if (head.startsWith('HTTP/1.1 101')) resolve();
        else reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      }
    };
    socket.on('data', onData);
  });
  socket.on('data', () => {});
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => Date.now());
  return { socket, closed };
}

/** A drain compressed into well under a second, no signal handlers: the in-process tests' default budget. */
export const FAST_DRAIN: DrainOptions = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 150,
  drainWindowMs: 600,
  closeTimeoutMs: 400,
  safetyMarginMs: 100,
  signals: false,
};

/** A real ws server (server or noServer mode) with a DrainController attached, both released after the test. */
export async function startDrainedServer(
  mode: 'server' | 'noServer',
  options: DrainOptions,
  cleanups: Cleanup[],
): Promise<{ server: TestServer; controller: DrainController }> {
  const server = await startWsServer(mode);
  const controller = new DrainController({ ...FAST_DRAIN, ...options });
  controller.attach(server.wss);
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  return { server, controller };
}
