// A benchmark client process: opens COUNT connections to URL, then idles or runs an echo load on command.

import { once } from 'node:events';
import { WebSocket } from 'ws';

const url = process.env.URL;
const count = Number(process.env.COUNT);
const concurrency = Number(process.env.CONCURRENCY ?? 200);
// SOURCE_NET=127.0.7: connections come from 127.0.7.1 … 127.0.7.250 in turn (127.0.0.0/8 is all loopback), so
// no single source address runs out of ephemeral ports however many connections the bench opens.
const sourceNet = process.env.SOURCE_NET;
const sockets = [];

// WAIT_GO=1: report 'ready' and connect only on 'go', so a caller timing the accepts leaves out this process's
// own start-up.
if (process.env.WAIT_GO === '1') {
  process.send({ type: 'ready' });
  await new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.type !== 'go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

for (let start = 0; start < count; start += concurrency) {
  const batch = Array.from({ length: Math.min(concurrency, count - start) }, async (_, offset) => {
    const localAddress = sourceNet ? `${sourceNet}.${1 + ((start + offset) % 250)}` : undefined;
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
    ws.on('error', () => {});
    await once(ws, 'open');
    sockets.push(ws);
  });
  await Promise.all(batch);
}
process.send({ type: 'connected', count: sockets.length });

process.on('message', async (message) => {
  if (message.type === 'echo') {
    // Closed loop: each connection keeps `inflight` messages outstanding for durationMs.
    const payload = 'x'.repeat(message.payloadBytes);
    let replies = 0;
    let running = true;
    for (const ws of sockets) {
      ws.on('message', () => {
        if (!running) return;
        replies++;
        ws.send(payload);
      });
      for (let i = 0; i < message.inflight; i++) ws.send(payload);
    }
    await new Promise((resolve) => setTimeout(resolve, message.warmupMs));
    const before = replies;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, message.durationMs));
    const counted = replies - before;
    const elapsed = performance.now() - started;
    running = false;
    process.send({ type: 'echo', perSecond: (counted / elapsed) * 1000, total: replies });
  } else if (message.type === 'exit') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
