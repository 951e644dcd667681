// A benchmark client process: opens COUNT connections to URL, then idles or runs an echo load on command.

import { once } from 'node:events';
import { WebSocket } from 'ws';

const url = process.env.URL;
const count = Number(process.env.COUNT);
const concurrency = Number(process.env.CONCURRENCY ?? 200);
const sockets = [];

for (let start = 0; start < count; start += concurrency) {
  const batch = Array.from({ length: Math.min(concurrency, count - start) }, async () => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
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
