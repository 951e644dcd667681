// A benchmark server process: bare `ws`, or `ws` with a DrainController attached (admin server and metrics
// on, as a gateway would run it). Controlled over IPC by run.js.

import { once } from 'node:events';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DrainController } from '@baton/drain-core';
import { Handoff } from '@baton/handoff';
import { WebSocketServer } from 'ws';
import { answerProbes } from './probes.js';

// The histogram records the time between its timer's firings, the resolution included (an idle loop reads
// ~1 ms at resolution 1): the delay is what exceeds it.
const LOOP_RESOLUTION_MS = 1;
const delayMs = (nanoseconds) => Math.max(0, nanoseconds / 1e6 - LOOP_RESOLUTION_MS);

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
    signals: false,
    exitAfterDrain: 'never',
    propagationDelayMs: 0,
    drainWindowMs: windowMs,
    closeTimeoutMs: 5_000,
    safetyMarginMs: 0,
    gracePeriodMs: windowMs + 5_000,
    admin: { port: 0, host: '127.0.0.1' },
  });
  drain.attach(wss);
  await drain.start();
} else if (variant !== 'bare') {
  throw new Error(`VARIANT must be bare or baton, got ${variant}`);
}

http.listen(0, '127.0.0.1');
await once(http, 'listening');
send({ type: 'listening', port: http.address().port });

answerProbes(() => wss.clients.size, {
  // message.how: 'baton' (paced drain), 'idle' (baseline: no drain), or 'terminate-all' / 'close-all'
  // (what a naive shutdown does).
  drain: async (message) => {
    const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    const connections = wss.clients.size;
    delay.enable();
    // Let the monitor take samples first: a stall in the same tick as enable() would go unrecorded.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    if (message.how === 'baton') {
      await drain.drain();
    } else if (message.how === 'idle') {
      // The baseline: the same connections, left alone for as long as the paced drain takes.
      await new Promise((resolve) => setTimeout(resolve, windowMs));
    } else {
      const allClosed = Promise.all([...wss.clients].map((ws) => once(ws, 'close')));
      for (const ws of wss.clients) {
        if (message.how === 'terminate-all') ws.terminate();
        else ws.close(1001);
      }
      await allClosed;
    }
    const durationMs = performance.now() - started;
    delay.disable();
    return send({
      type: 'drained',
      connections,
      durationMs,
      p50Ms: delayMs(delay.percentile(50)),
      p99Ms: delayMs(delay.percentile(99)),
      maxMs: delayMs(delay.max),
    });
  },
});

function send(value) {
  process.send?.(value);
}
