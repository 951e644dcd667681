// The release a Baton client should not notice, against real gateway processes behind a TCP balancer:
// two v1 pods, two v2 pods started, endpoints switched to v2, v1 drained by SIGTERM. Shared by every gateway.

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BatonSocket } from '../../packages/client/src/index.js';
import { budgetEnv, type GatewayProcess, NodeBalancer, startGateway } from '../../packages/lab/src/harness/index.js';
import { TEST_HANDOFF_KEYS } from '../support/secrets.js';

const HANDOFF_KEYS = TEST_HANDOFF_KEYS;

interface Tick {
  type: 'tick';
  session: string;
  n: number;
  version: string;
}

interface ObservedClient {
  socket: BatonSocket;
  ticks: Tick[];
  appCloses: number[];
  migrations: number;
  resumed: number;
  echoesSent: Set<string>;
  echoReplies: Map<string, number>;
  reachedV2: Promise<void>;
  /** Resolves once every echo sent so far has its reply. */
  echoesAnswered(): Promise<void>;
  /** Resolves at the next tick delivered from this version. */
  nextTickFrom(version: string): Promise<void>;
}

function observe(url: string, index: number): Promise<ObservedClient> {
  const socket = new BatonSocket(url, [], {
    WebSocket,
    // Ticks carry (session, n); echoes their own id: both identify a message across the overlap.
    dedupe: (data) => {
      const message = JSON.parse(String(data)) as { type: string; session?: string; n?: number; id?: string };
      return message.type === 'tick'
        ? `${message.session}:${message.n}`
        : message.type === 'echo'
          ? `echo:${message.id}`
          : undefined;
    },
  });
  let markV2 = () => {};
  let onReply = () => {};
  const tickWaiters: { version: string; resolve: () => void }[] = [];
  const client: ObservedClient = {
    socket,
    ticks: [],
    appCloses: [],
    migrations: 0,
    resumed: 0,
    echoesSent: new Set(),
    echoReplies: new Map(),
    reachedV2: new Promise<void>((resolve) => {
      markV2 = resolve;
    }),
    echoesAnswered: () =>
      new Promise<void>((resolve) => {
        onReply = () => {
          if (client.echoReplies.size >= client.echoesSent.size) resolve();
        };
        onReply();
      }),
    nextTickFrom: (version) => new Promise<void>((resolve) => tickWaiters.push({ version, resolve })),
  };
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data));
    if (message.type === 'tick') {
      client.ticks.push(message);
      if (message.version === 'v2') markV2();
      for (const waiter of tickWaiters.splice(0)) {
        if (waiter.version === message.version) waiter.resolve();
        else tickWaiters.push(waiter);
      }
    } else if (message.type === 'echo') {
      client.echoReplies.set(message.id, (client.echoReplies.get(message.id) ?? 0) + 1);
      onReply();
    }
  });
  socket.addEventListener('close', (event) => client.appCloses.push(event.code));
  socket.addEventListener('migrated', () => client.migrations++);
  socket.addEventListener('resumed', () => client.resumed++);
  return new Promise((resolve, reject) => {
    socket.addEventListener('open', () => resolve(client), { once: true });
    socket.addEventListener('error', () => reject(new Error(`client ${index} failed to connect`)), { once: true });
  });
}

/** `extraEnv` adds to every pod's environment when the pods start (e.g. a Redis store's URL). */
export function defineGatewayHandoffScenarios(
  name: string,
  script: string,
  extraEnv: () => Record<string, string> = () => ({}),
): void {
  describe(`${name}: handoff scenarios`, () => {
    const cleanups: (() => Promise<unknown> | unknown)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('moves 200 Baton clients from v1 to v2 pods: no app-visible close, same session, no tick gap, every echo once', async () => {
      const env = (version: string) => ({
        APP_VERSION: version,
        TICK_MS: '100',
        BATON_HANDOFF_KEYS: HANDOFF_KEYS,
        ...extraEnv(),
        ...budgetEnv({
          gracePeriodMs: 10_000,
          propagationDelayMs: 1_000,
          drainWindowMs: 4_000,
          closeTimeoutMs: 1_000,
          safetyMarginMs: 1_000,
        }),
      });
      const pods: GatewayProcess[] = [];
      cleanups.push(() => Promise.all(pods.map((pod) => pod.stop())));
      const balancer = new NodeBalancer();
      cleanups.push(() => balancer.close());
      await balancer.listen();
      pods.push(await startGateway(script, env('v1')), await startGateway(script, env('v1')));
      const [v1a, v1b] = pods as [GatewayProcess, GatewayProcess];
      await balancer.update([
        { port: v1a.port, ready: true, terminating: false },
        { port: v1b.port, ready: true, terminating: false },
      ]);

      const clients: ObservedClient[] = [];
      for (let start = 0; start < 200; start += 50) {
        clients.push(
          ...(await Promise.all(
            Array.from({ length: 50 }, (_, i) => observe(`ws://127.0.0.1:${balancer.port}`, start + i)),
          )),
        );
      }
      cleanups.push(() => {
        for (const client of clients) client.socket.close();
      });

      // Echoes keep flowing through the whole release, one per client every 100 ms.
      let echoSeq = 0;
      const echoTimer = setInterval(() => {
        for (const client of clients) {
          const id = `${clients.indexOf(client)}-${echoSeq}`;
          client.echoesSent.add(id);
          client.socket.send(JSON.stringify({ type: 'echo', id }));
        }
        echoSeq++;
      }, 100);
      cleanups.push(() => clearInterval(echoTimer));

      // The release: new pods up, endpoints switched to them, old pods deleted (SIGTERM).
      const v2a = await startGateway(script, env('v2'));
      const v2b = await startGateway(script, env('v2'));
      pods.push(v2a, v2b);
      await balancer.update([
        { port: v2a.port, ready: true, terminating: false },
        { port: v2b.port, ready: true, terminating: false },
      ]);
      v1a.child.kill('SIGTERM');
      v1b.child.kill('SIGTERM');

      const [exitA, exitB] = await Promise.all([v1a.exited, v1b.exited]);
      expect(exitA.code).toBe(0);
      expect(exitB.code).toBe(0);
      await Promise.all(clients.map((client) => client.reachedV2));
      clearInterval(echoTimer);
      // Every echo sent gets its answer (bounded by the test timeout).
      await Promise.all(clients.map((client) => client.echoesAnswered()));

      // During the overlap both versions tick and dedupe keeps the first of each number; the old pod, which never
      // paused, is ahead until it is gone (its connection lingers after the switch). So the stream ends on v2
      // once v2 delivers a tick after the old pods exited: wait for that, then check the whole stream.
      await Promise.all(clients.map((client) => client.nextTickFrom('v2')));
      const drained = await Promise.all([v1a, v1b].map((pod) => pod.waitForLog((line) => line.msg === 'drained')));
      expect(drained.reduce((sum, line) => sum + (line.report as { hinted: number }).hinted, 0)).toBe(200);
      for (const client of clients) {
        expect(client.appCloses).toEqual([]);
        expect(client.migrations).toBe(1);
        expect(client.resumed).toBe(1);
        const sessions = new Set(client.ticks.map((tick) => tick.session));
        expect(sessions.size).toBe(1);
        const numbers = client.ticks.map((tick) => tick.n);
        expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => (numbers[0] as number) + i));
        expect(client.ticks.at(-1)?.version).toBe('v2');
        for (const id of client.echoesSent) expect(client.echoReplies.get(id)).toBe(1);
      }
    });
  });
}
