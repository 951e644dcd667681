// Rebalancing after an HPA scale-out, end to end: real example-gateway processes behind a TCP balancer, 400
// Baton clients and 100 plain clients on 2 pods, then 2 pods added. Each pod has its own loopback address
// and the same admin port, as pods in a cluster have their own IP (BATON_REBALANCE_PEERS lists the four;
// a pod that is not there yet does not answer and is not counted).
//
// The pods' connection counts are sampled every 250 ms from their admin status: that is the measurement (the
// max/mean series the issue asks for), and the wait ends when the series meets the bound or the 30 s of the
// criterion have passed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BatonSocket } from '../packages/client/src/index.js';
import { budgetEnv, type GatewayProcess, NodeBalancer, startGateway } from '../packages/lab/src/harness/index.js';
import { useCleanups } from './support/cleanups.js';
import { openClient, type RecordedClient } from './support/clients.js';
import { TEST_HANDOFF_KEYS } from './support/secrets.js';

const gateways = {
  'ws-gateway': fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url)),
  'fastify-gateway': fileURLToPath(new URL('../examples/fastify-gateway/server.js', import.meta.url)),
};
const cleanups = useCleanups();

// Addresses of this file's own (127.0.0.0/8 is all loopback), and a port below the ephemeral range.
const ADMIN_PORT = 19_090;
const adminHost = (i: number) => `127.0.31.${i + 1}`;
const PEERS = [0, 1, 2, 3].map((i) => `http://${adminHost(i)}:${ADMIN_PORT}`).join(',');

interface Tick {
  type: 'tick';
  session: string;
  n: number;
}

interface BatonClient {
  socket: BatonSocket;
  ticks: Tick[];
  appCloses: number;
  moves: number;
}

function batonClient(url: string): Promise<BatonClient> {
  const socket = new BatonSocket(url, [], {
    WebSocket,
    dedupe: (data) => {
      const message = JSON.parse(String(data)) as { type: string; session?: string; n?: number };
      return message.type === 'tick' ? `${message.session}:${message.n}` : undefined;
    },
  });
  const client: BatonClient = { socket, ticks: [], appCloses: 0, moves: 0 };
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as Tick;
    if (message.type === 'tick') client.ticks.push(message);
  });
  socket.addEventListener('close', () => client.appCloses++);
  socket.addEventListener('migrated', () => client.moves++);
  return new Promise((resolve, reject) => {
    socket.addEventListener('open', () => resolve(client), { once: true });
    socket.addEventListener('error', () => reject(new Error('a Baton client failed to connect')), { once: true });
  });
}

async function connections(i: number): Promise<number> {
  const response = await fetch(`http://${adminHost(i)}:${ADMIN_PORT}/livez`);
  return ((await response.json()) as { connections: number }).connections;
}

describe.each(Object.entries(gateways))(
  'rebalancing after a scale-out (%s, BATON_REBALANCE_SECONDS=20)',
  (_name, gateway) => {
    it('2 -> 4 pods: balanced within 30 s (max/mean <= 1.25), no Baton client sees a close or a tick gap, no plain client is disconnected, no client moves more than 3 times', async () => {
      const proofs = mkdtempSync(join(tmpdir(), 'baton-rebalance-'));
      cleanups.push(() => rmSync(proofs, { recursive: true, force: true }));
      const env = (i: number) => ({
        TICK_MS: '250',
        BATON_HANDOFF_KEYS: TEST_HANDOFF_KEYS,
        BATON_REBALANCE_SECONDS: '20',
        BATON_REBALANCE_PEERS: PEERS,
        ADMIN_HOST: adminHost(i),
        ADMIN_PORT: String(ADMIN_PORT),
        // Each pod's own container: its own proof file (the path is per port otherwise, and the port is shared).
        BATON_ADMIN_PROOF_FILE: join(proofs, `pod-${i}.proof`),
        ...budgetEnv({
          gracePeriodMs: 30_000,
          propagationDelayMs: 1_000,
          closeTimeoutMs: 1_000,
          safetyMarginMs: 1_000,
        }),
      });
      const pods: GatewayProcess[] = [];
      cleanups.push(() => Promise.all(pods.map((pod) => pod.stop())));
      const balancer = new NodeBalancer();
      cleanups.push(() => balancer.close());
      await balancer.listen();
      pods.push(await startGateway(gateway, env(0)), await startGateway(gateway, env(1)));
      const endpoints = () => pods.map((pod) => ({ port: pod.port, ready: true, terminating: false }));
      await balancer.update(endpoints());

      const baton: BatonClient[] = [];
      for (let start = 0; start < 400; start += 50) {
        baton.push(...(await Promise.all(Array.from({ length: 50 }, () => batonClient(balancer.url)))));
      }
      const plain: RecordedClient[] = [];
      for (let start = 0; start < 100; start += 50) {
        plain.push(...(await Promise.all(Array.from({ length: 50 }, () => openClient(balancer.url)))));
      }
      cleanups.push(() => {
        for (const client of baton) client.socket.close();
        for (const client of plain) client.ws.terminate();
      });
      const before = await Promise.all([0, 1].map(connections));
      expect(before[0] + before[1]).toBe(500);

      // The scale-out: two pods start and become endpoints.
      pods.push(await startGateway(gateway, env(2)), await startGateway(gateway, env(3)));
      await balancer.update(endpoints());
      const addedAt = Date.now();

      const series: { at: number; counts: number[] }[] = [];
      const ratio = (counts: number[]) => Math.max(...counts) / (counts.reduce((a, b) => a + b, 0) / counts.length);
      await new Promise<void>((resolve, reject) => {
        const sample = async () => {
          const counts = await Promise.all([0, 1, 2, 3].map(connections));
          series.push({ at: Date.now() - addedAt, counts });
          if (counts.reduce((a, b) => a + b, 0) === 500 && ratio(counts) <= 1.25) return resolve();
          if (Date.now() - addedAt > 30_000)
            return reject(new Error(`not balanced in 30 s: ${JSON.stringify(series.slice(-4))}`));
          setTimeout(() => void sample().catch(reject), 250);
        };
        void sample().catch(reject);
      });
      const balanced = series.at(-1) as { at: number; counts: number[] };
      console.info(
        `balanced after ${balanced.at} ms: ${balanced.counts.join(' / ')} (max/mean ${ratio(balanced.counts).toFixed(2)})`,
      );

      // Every Baton client keeps its session and ticks without a gap; the moves were make-before-break.
      for (const client of baton) {
        expect(client.appCloses).toBe(0);
        expect(client.moves).toBeLessThanOrEqual(3);
        expect(new Set(client.ticks.map((tick) => tick.session)).size).toBe(1);
        const numbers = client.ticks.map((tick) => tick.n);
        expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => (numbers[0] as number) + i));
      }
      expect(baton.filter((client) => client.moves > 0).length).toBeGreaterThan(100);
      // Plain clients are never disconnected by rebalancing.
      for (const client of plain) expect(client.close).toBeUndefined();
    });
  },
);
