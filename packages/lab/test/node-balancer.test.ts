import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { NodeBalancer, type RoutingOptions } from '../src/datapath/node/node-balancer.js';

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

describe('NodeBalancer', () => {
  it('spreads new connections over ready, non-terminating endpoints and keeps established flows', async () => {
    const [a, b, c] = [await backend('a'), await backend('b'), await backend('c')];
    const lb = new NodeBalancer();
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
    const lb = new NodeBalancer({ propagationLagMs: 300 });
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
    const lb = new NodeBalancer({ routing: { dataplane: 'dpv2' } });
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

  it('on kube-proxy, keeps the established flows of an endpoint removed by a selector flip', async () => {
    const [a, c] = [await backend('a'), await backend('c')];
    const lb = new NodeBalancer();
    cleanups.push(() => lb.close());
    await lb.listen();
    await lb.update([{ port: a.port, ready: true, terminating: false }]);
    const onA = await connect(lb.port);
    await lb.update([{ port: c.port, ready: true, terminating: false }]);
    expect((await connect(lb.port)).name).toBe('c');
    expect(onA.ws.readyState).toBe(WebSocket.OPEN);
  });

  describe('externalTrafficPolicy Local behind health-checked nodes', () => {
    const healthCheck = { intervalMs: 100, unhealthyThreshold: 3, healthyThreshold: 1 };

    /** Both nodes have passed a probe: the LB sends to them because they are healthy, not as a fallback. */
    function bothHealthy(lb: NodeBalancer): Promise<void> {
      const healthy = new Set<string>();
      return new Promise((resolve) => {
        const onHealth = (node: string, ok: boolean) => {
          if (ok) healthy.add(node);
          if (healthy.size < 2) return;
          lb.off('health', onHealth);
          resolve();
        };
        lb.on('health', onHealth);
      });
    }

    /** Backends a (node n1) and b (node n2) behind an ETP Local balancer, both nodes healthy in the LB's view. */
    async function twoNodes(routing: Partial<RoutingOptions>) {
      const [a, b] = [await backend('a'), await backend('b')];
      const lb = new NodeBalancer({ routing: { externalTrafficPolicy: 'Local', healthCheck, ...routing } });
      cleanups.push(() => lb.close());
      await lb.listen();
      const healthy = bothHealthy(lb);
      await lb.update([
        { port: a.port, ready: true, terminating: false, node: 'n1' },
        { port: b.port, ready: true, terminating: false, node: 'n2' },
      ]);
      await healthy;
      return { lb, a, b };
    }

    it('Kubernetes ≥ 1.26: a node whose only pod terminates keeps getting new flows until the LB notices, sent to that pod', async () => {
      const { lb, a, b } = await twoNodes({ proxyTerminatingEndpoints: true });
      const terminatingAt = Date.now();
      await lb.update([
        { port: a.port, ready: true, terminating: true, node: 'n1' },
        { port: b.port, ready: true, terminating: false, node: 'n2' },
      ]);
      // The LB still sends half the new flows to n1, whose kube-proxy falls back to its terminating pod.
      const right = await Promise.all([1, 2].map(() => connect(lb.port)));
      expect(right.map((conn) => conn.name).sort()).toEqual(['a', 'b']);
      // Then three failed probes take n1 out: only b from then on.
      let lastA = Date.now();
      // Connections are the probe of what the LB does; bounded by time, far above the detection lag.
      while (Date.now() - terminatingAt < 5_000) {
        const pair = await Promise.all([1, 2].map(() => connect(lb.port)));
        if (pair.every((conn) => conn.name === 'b')) break;
        lastA = Date.now();
      }
      expect((await Promise.all([1, 2].map(() => connect(lb.port)))).map((conn) => conn.name)).toEqual(['b', 'b']);
      // Not before (threshold − 1) probe intervals: the lag the propagation delay must cover.
      expect(lastA - terminatingAt).toBeGreaterThanOrEqual(
        (healthCheck.unhealthyThreshold - 1) * healthCheck.intervalMs,
      );
    });

    it('Kubernetes < 1.26: the SYNs a node has nowhere to send are dropped', async () => {
      const { lb, a, b } = await twoNodes({ proxyTerminatingEndpoints: false, synTimeoutMs: 200 });
      await lb.update([
        { port: a.port, ready: true, terminating: true, node: 'n1' },
        { port: b.port, ready: true, terminating: false, node: 'n2' },
      ]);
      const outcomes = await Promise.all(
        [1, 2].map(
          () =>
            new Promise<string>((resolve) => {
              const ws = new WebSocket(`ws://127.0.0.1:${lb.port}`);
              ws.on('error', () => {});
              ws.once('message', (name) => resolve(String(name)));
              ws.once('close', () => resolve('no answer'));
            }),
        ),
      );
      expect(outcomes.sort()).toEqual(['b', 'no answer']);
      await lb.openFlows();
      expect(lb.dropped).toBe(1);
    });
  });
});
