import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { LoadBalancer } from '../src/load-balancer.js';

const cleanups = useCleanups();

async function backend(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.send(name));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const client of wss.clients) client.terminate();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, server };
}

async function connect(port: number) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  ws.on('error', () => {});
  const [name] = await once(ws, 'message');
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { ws, name: String(name), closed };
}

describe('LoadBalancer', () => {
  it('spreads new connections over ready, non-terminating endpoints and keeps established flows', async () => {
    const [a, b, c] = [await backend('a'), await backend('b'), await backend('c')];
    const lb = new LoadBalancer();
    cleanups.push(() => lb.close());
    await lb.listen();
    await lb.update([
      { port: a.port, ready: true, terminating: false },
      { port: b.port, ready: true, terminating: false },
      { port: c.port, ready: false, terminating: false },
    ]);
    const first = await Promise.all([1, 2, 3, 4].map(() => connect(lb.port)));
    expect(first.map((x) => x.name).sort()).toEqual(['a', 'a', 'b', 'b']);
    // a terminates: no new connections, its established ones stay.
    await lb.update([
      { port: a.port, ready: true, terminating: true },
      { port: b.port, ready: true, terminating: false },
    ]);
    const later = await Promise.all([1, 2].map(() => connect(lb.port)));
    expect(later.map((x) => x.name)).toEqual(['b', 'b']);
    for (const conn of first) expect(conn.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('applies endpoint changes only after the propagation lag', async () => {
    const [a, b] = [await backend('a'), await backend('b')];
    const lb = new LoadBalancer({ propagationLagMs: 300 });
    cleanups.push(() => lb.close());
    await lb.listen();
    await lb.update([{ port: a.port, ready: true, terminating: false }]);
    const applied = lb.update([{ port: b.port, ready: true, terminating: false }]);
    // Still propagating: new connections still reach a.
    expect((await connect(lb.port)).name).toBe('a');
    await applied;
    expect((await connect(lb.port)).name).toBe('b');
  });

  it('with the Dataplane V2 fault model, resets flows whose endpoint is removed, not those that terminate', async () => {
    const [a, b, c] = [await backend('a'), await backend('b'), await backend('c')];
    const lb = new LoadBalancer({ resetOnRemoval: true });
    cleanups.push(() => lb.close());
    await lb.listen();
    await lb.update([
      { port: a.port, ready: true, terminating: false },
      { port: b.port, ready: true, terminating: false },
    ]);
    const [onA, onB] = [await connect(lb.port), await connect(lb.port)];
    // b terminates (kept in the map), a is removed by a selector flip to c.
    await lb.update([
      { port: b.port, ready: true, terminating: true },
      { port: c.port, ready: true, terminating: false },
    ]);
    expect(await onA.closed).toBe(1006);
    expect(onB.ws.readyState).toBe(WebSocket.OPEN);
    expect((await connect(lb.port)).name).toBe('c');
  });
});
