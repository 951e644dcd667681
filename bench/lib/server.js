// A benchmark server process: bare `ws`, or `ws` with a DrainController attached (admin server and metrics
// on, as a gateway would run it). Controlled over IPC by run.js.

import { once } from 'node:events';
import { createServer } from 'node:http';
import { DrainController } from '@baton/drain-core';
import { Handoff } from '@baton/handoff';
import { WebSocketServer } from 'ws';
import { benchDrainOptions, drainProbe } from './drain-probe.js';
import { answerProbes } from './probes.js';

const variant = process.env.VARIANT;
const windowMs = Number(process.env.DRAIN_WINDOW_MS ?? 10_000);
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

// HANDOFF_SECRET: speak protocol v1 and open resume tokens sealed with this key (the handshake bench);
// HANDOFF_STORE_URL: in store mode, on that Redis.
let store;
if (process.env.HANDOFF_STORE_URL) {
  const { createClient } = await import('redis');
  const { RedisStore } = await import('@baton/handoff');
  const client = createClient({ url: process.env.HANDOFF_STORE_URL, disableOfflineQueue: true });
  client.on('error', () => {});
  await client.connect();
  store = new RedisStore({ client, timeoutMs: 1_000 });
}
const handoff = process.env.HANDOFF_SECRET
  ? new Handoff({ keys: [{ id: 'bench', secret: process.env.HANDOFF_SECRET }], ...(store ? { store } : {}) })
  : undefined;

let drain;
if (variant === 'baton') {
  drain = new DrainController({
    ...(handoff ? { hintProtocol: { handoff, snapshot: () => ({}) } } : {}),
    ...benchDrainOptions(windowMs),
  });
  drain.attach(wss);
  await drain.start();
} else if (variant !== 'bare') {
  throw new Error(`VARIANT must be bare or baton, got ${variant}`);
}

http.listen(0, '127.0.0.1');
await once(http, 'listening');
send({ type: 'listening', port: http.address().port, adminPort: drain?.adminAddress()?.port });

// message.how: 'baton' (paced drain), 'idle' (baseline: no drain), or 'terminate-all' / 'close-all'.
const connections = () => wss.clients.size;
answerProbes(connections, { drain: drainProbe(connections, wss, drain, windowMs) });

function send(value) {
  process.send?.(value);
}
