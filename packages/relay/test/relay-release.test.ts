// A gateway release behind the relay: plain `ws` clients (which follow no hint) connected through the relay to
// real example gateways behind the lab's load balancer. When their gateway pod drains, the relay's upstream
// moves make-before-break and resumes the session on the new pod: the clients see no close, and with a
// message id their ticks stay contiguous.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { TEST_HANDOFF_KEYS } from '../../../test/support/secrets.js';
import { budgetEnv, type GatewayProcess, NodeBalancer, startGateway } from '../../lab/src/harness/index.js';
import { Relay } from '../src/index.js';

const cleanups = useCleanups();
const gateway = fileURLToPath(new URL('../../../examples/ws-gateway/server.js', import.meta.url));
const HANDOFF_KEYS = TEST_HANDOFF_KEYS;

type Tick = { type: 'tick'; session: string; n: number; version: string };

const tickId = (data: string | Buffer) => {
  if (typeof data !== 'string') return undefined;
  const message = JSON.parse(data) as Partial<Tick>;
  return message.type === 'tick' ? `${message.session}:${message.n}` : undefined;
};

async function startPod(version: string): Promise<GatewayProcess> {
  const pod = await startGateway(gateway, {
    APP_VERSION: version,
    TICK_MS: '50',
    BATON_HANDOFF_KEYS: HANDOFF_KEYS,
    ...budgetEnv({
      gracePeriodMs: 8_000,
      propagationDelayMs: 500,
      drainWindowMs: 2_000,
      closeTimeoutMs: 1_000,
      safetyMarginMs: 1_000,
    }),
  });
  cleanups.push(() => pod.stop());
  return pod;
}

describe('relay across a gateway release', () => {
  it('30 plain clients: no close, one session each, ticks contiguous (message id), every upstream moved', async () => {
    const balancer = new NodeBalancer();
    cleanups.push(() => balancer.close());
    await balancer.listen();
    const v1 = await startPod('v1');
    await balancer.update([{ port: v1.port, ready: true, terminating: false }]);

    const relay = new Relay({ upstream: `ws://127.0.0.1:${balancer.port}/`, messageId: tickId });
    const http = createServer();
    http.on('upgrade', (request, socket, head) => relay.handleUpgrade(request, socket, head));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanups.push(() => {
      relay.close();
      return new Promise((resolve) => http.close(resolve));
    });
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/`;

    const clients = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const socket = new WebSocket(url);
        const record = { ticks: [] as Tick[], closes: 0, versions: new Set<string>() };
        socket.on('message', (data) => {
          const tick = JSON.parse(String(data)) as Tick;
          if (tick.type !== 'tick') return;
          record.ticks.push(tick);
          record.versions.add(tick.version);
        });
        socket.on('close', () => record.closes++);
        cleanups.push(() => socket.terminate());
        await once(socket, 'open');
        return { socket, record };
      }),
    );

    // The release: v2 comes up, v1's endpoint turns terminating, and v1 is told to drain (SIGTERM).
    const v2 = await startPod('v2');
    await balancer.update([
      { port: v1.port, ready: false, terminating: true },
      { port: v2.port, ready: true, terminating: false },
    ]);
    v1.terminate();
    expect((await v1.exited).code).toBe(0);
    // Every client now hears v2; wait for one more v2 tick each, as an event.
    await Promise.all(
      clients.map(
        ({ socket, record }) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (record.versions.has('v2')) {
                socket.off('message', check);
                resolve();
              }
            };
            socket.on('message', check);
            check();
          }),
      ),
    );

    expect(relay.stats.moves).toBe(30);
    expect(relay.stats.upstreamLost).toBe(0);
    for (const { record } of clients) {
      expect(record.closes).toBe(0);
      expect(new Set(record.ticks.map((tick) => tick.session)).size).toBe(1);
      const numbers = record.ticks.map((tick) => tick.n);
      // Contiguous: each tick once, in order, across the move.
      expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i));
    }
  });
});
