import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { openClient, tryUpgrade } from '../../../test/support/clients.js';
import { startDrainedServer } from '../../../test/support/servers.js';
import { BatonSocket } from '../../client/src/index.js';
import { DrainController, type DrainOptions, ErrorCodes } from '../src/index.js';

const cleanups = useCleanups();

interface Pod {
  url: string;
  admin: string;
  controller: DrainController;
}

type TestLogger = NonNullable<DrainOptions['logger']>;

/**
 * A pod: a ws echo server with drain-core, protocol v1 and an admin server on loopback; `rebalance` as given.
 * Its info lines go to `logs` (an array), or to a logger of the test's.
 */
async function pod(rebalance: DrainOptions['rebalance'], logs: string[] | TestLogger = []): Promise<Pod> {
  const logger = Array.isArray(logs)
    ? {
        info: (fields: object, msg: string) => logs.push(`${msg} ${JSON.stringify(fields)}`),
        warn: () => {},
        error: () => {},
        debug: () => {},
      }
    : logs;
  const { server, controller } = await startDrainedServer(
    'server',
    { hintProtocol: true, admin: { port: 0, host: '127.0.0.1' }, metrics: false, rebalance, logger },
    cleanups,
  );
  await controller.start();
  return {
    url: server.url,
    admin: `http://127.0.0.1:${controller.adminAddress()?.port}`,
    controller,
  };
}

/** Resolves once `check` holds; checked on every connection and every close of the pods' sockets. */
function until(pods: Pod[], check: () => boolean, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('condition not reached')), timeoutMs);
    const test = () => {
      if (!check()) return;
      clearTimeout(timer);
      resolve();
    };
    for (const { controller } of pods) {
      controller.on('connection', ({ socket }) => socket.on('close', () => setImmediate(test)));
      for (const { socket } of controller.connections()) socket.on('close', () => setImmediate(test));
    }
    test();
  });
}

/** Baton clients on `first`; their moves go where a load balancer would send them: a pod picked at random. */
async function batonClients(count: number, first: Pod, all: () => Pod[]) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const record = { closes: 0, moves: 0, movedAt: [] as number[] };
    const socket = new BatonSocket(first.url, [], {
      WebSocket: WebSocket as never,
      url: ({ reason }) => {
        const pods = all();
        return reason === 'connect' ? first.url : (pods[Math.floor(Math.random() * pods.length)] as Pod).url;
      },
    });
    socket.addEventListener('close', () => record.closes++);
    socket.addEventListener('migrated', () => {
      record.moves++;
      record.movedAt.push(Date.now());
    });
    await once(socket as unknown as EventTarget, 'open');
    cleanups.push(() => socket.close());
    clients.push(record);
  }
  return clients;
}

const counts = (pods: Pod[]) => pods.map((p) => p.controller.connectionCount);

describe('rebalancing after a scale-out', () => {
  it('moves Baton connections off a pod above its share to the cooler pods, paced, and stops once balanced; plain clients stay', async () => {
    const pods: Pod[] = [];
    const peers = () => pods.map((p) => p.admin);
    const logs: string[] = [];
    const hot = await pod({ horizonMs: 2_000, pollIntervalMs: 200, peers }, logs);
    pods.push(hot);
    const baton = await batonClients(60, hot, () => pods);
    const plain = await Promise.all(Array.from({ length: 12 }, () => openClient(hot.url)));
    // The scale-out: two empty pods join the fleet.
    pods.push(await pod({ horizonMs: 2_000, pollIntervalMs: 200, peers }));
    pods.push(await pod({ horizonMs: 2_000, pollIntervalMs: 200, peers }));
    const total = 72;
    await until(pods, () => {
      const now = counts(pods);
      return now.reduce((a, b) => a + b, 0) === total && Math.max(...now) <= (total / 3) * 1.2;
    });
    // Balanced: the hot pod holds no more than its share plus the tolerance, every pod took some.
    for (const count of counts(pods)) expect(count).toBeGreaterThan(0);
    // No Baton client saw a close; none moved twice.
    expect(baton.every((c) => c.closes === 0)).toBe(true);
    expect(Math.max(...baton.map((c) => c.moves))).toBe(1);
    // Plain clients were never touched: all still open on the hot pod.
    expect(plain.every((c) => c.ws.readyState === WebSocket.OPEN && c.close === undefined)).toBe(true);
    // Paced: the moves (about 60 - 28 = 32, over 40 % of the 2 s horizon: 40/s) were not sent at once.
    const moved = baton.flatMap((c) => c.movedAt).sort((a, b) => a - b);
    expect(moved.length).toBeGreaterThanOrEqual(24);
    expect((moved.at(-1) as number) - (moved[0] as number)).toBeGreaterThanOrEqual(300);
    expect(logs.some((line) => line.startsWith('baton: rebalancing: above the fleet share'))).toBe(true);
    // Its view of the fleet, as its status reports it: 72 / 3, give or take a move in flight (a mover is
    // briefly on both pods).
    const view = hot.controller.status().rebalance as { share: number; pods: number };
    expect(view.pods).toBe(3);
    expect(view.share).toBeGreaterThanOrEqual(24);
    expect(view.share).toBeLessThan(26);
  });

  it('a pod at its share refuses a rebalancing mover (503, Retry-After 0, coded) and never a plain client', async () => {
    const pods: Pod[] = [];
    let release = () => {};
    const readTwice = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reads = 0;
    // The first peers() call comes before anyone connected, so wait for a reading taken after the clients.
    const full = await pod({
      horizonMs: 60_000,
      pollIntervalMs: 100,
      peers: () => {
        if (pods.length === 2 && ++reads === 3) release();
        return pods.map((p) => p.admin);
      },
    });
    const empty = await pod({ horizonMs: 60_000, pollIntervalMs: 100, peers: () => pods.map((p) => p.admin) });
    for (let i = 0; i < 10; i++) await openClient(full.url, 'baton.v1');
    pods.push(full, empty);
    await readTwice;
    // The share is known (10 connections over 2 pods); the full pod moves its own in time (60 s horizon), so it
    // is still above it.
    expect(full.controller.status().rebalance).toEqual({ share: 5, pods: 2 });
    const refused = await tryUpgrade(full.url, ['baton.v1', 'baton.rebalance']);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('0');
    expect(JSON.parse(refused.body).error.code).toBe(ErrorCodes.REBALANCE_ELSEWHERE);
    // A plain client and a Baton client that is not moving are accepted by the same pod.
    const plainClient = await openClient(full.url);
    expect(plainClient.ws.readyState).toBe(WebSocket.OPEN);
    const batonClient = await openClient(full.url, 'baton.v1');
    expect(batonClient.ws.readyState).toBe(WebSocket.OPEN);
    // The cool pod takes the mover.
    const accepted = await openClient(empty.url, ['baton.v1', 'baton.rebalance']);
    expect(accepted.ws.protocol).toBe('baton.v1');
  });

  it('moves nothing without a reading of the fleet (a peer that does not answer is not counted)', async () => {
    let polls = 0;
    const logs: string[] = [];
    let release = () => {};
    const thirdPoll = new Promise<void>((resolve) => {
      release = resolve;
    });
    const hot = await pod(
      {
        horizonMs: 1_000,
        pollIntervalMs: 100,
        peers: () => {
          if (++polls === 4) release();
          // Nothing listens on port 1: the fleet is this pod alone, and a fleet of one has no share.
          return ['http://127.0.0.1:1'];
        },
      },
      logs,
    );
    const clients = await batonClients(10, hot, () => [hot]);
    await thirdPoll;
    expect(hot.controller.connectionCount).toBe(10);
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
    expect(logs.filter((line) => line.startsWith('baton: rebalancing'))).toEqual([]);
  });

  it('moves nothing while a serving peer reports another release (a rollout is under way)', async () => {
    const pods: Pod[] = [];
    const logs: string[] = [];
    let reads = 0;
    let release = () => {};
    const readFourTimes = new Promise<void>((resolve) => {
      release = resolve;
    });
    const peers = () => {
      if (pods.length === 2 && ++reads === 4) release();
      return pods.map((p) => p.admin);
    };
    const old = await pod({ horizonMs: 1_000, pollIntervalMs: 100, peers, version: 'v1' }, logs);
    const clients = await batonClients(20, old, () => pods);
    pods.push(old, await pod({ horizonMs: 1_000, pollIntervalMs: 100, peers, version: 'v2' }));
    await readFourTimes;
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
    expect(old.controller.status().version).toBe('v1');
    expect(old.controller.status().rebalance).toEqual({ share: null, pods: 2 });
    expect(logs.some((line) => line.startsWith('baton: rebalancing paused: a release is under way'))).toBe(true);
  });

  it('suspends itself when its movers find no pod that takes them (a peer the load balancer does not reach)', async () => {
    const pods: Pod[] = [];
    const peers = () => pods.map((p) => p.admin);
    const warnings: string[] = [];
    let episodes = 0;
    let suspended = () => {};
    const warned = new Promise<void>((resolve) => {
      suspended = resolve;
    });
    const logger = {
      info: (_fields: object, msg: string) => {
        if (msg.startsWith('baton: rebalancing: above')) episodes++;
      },
      warn: (_fields: object, msg: string) => {
        warnings.push(msg);
        if (msg.startsWith('baton: rebalancing suspended')) suspended();
      },
      error: () => {},
      debug: () => {},
    };
    // 8 s: moves spread over 3.2 s, and those of the first hint window (2 s) are not held against it.
    const hot = await pod({ horizonMs: 8_000, pollIntervalMs: 200, peers }, logger);
    // The other pod is in the reading, but every move goes back to the hot pod, which refuses it.
    const clients = await batonClients(100, hot, () => [hot]);
    pods.push(hot, await pod({ horizonMs: 8_000, pollIntervalMs: 200, peers }));
    await warned;
    expect(hot.controller.connectionCount).toBe(100);
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
    // It took one episode: the pod did not stop and start again while its movers kept failing.
    expect(episodes).toBe(1);
  });

  it('asks each Baton connection once: when all were asked, no new round starts (no loop of failed moves)', async () => {
    const pods: Pod[] = [];
    let episodes = 0;
    let reads = 0;
    let exhausted = () => {};
    const asked = new Promise<void>((resolve) => {
      exhausted = resolve;
    });
    let release = () => {};
    const readsAfter = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readsAtExhaustion = -1;
    const logger = {
      info: (fields: { why?: string }, msg: string) => {
        if (msg.startsWith('baton: rebalancing: above')) episodes++;
        if (fields.why === 'no Baton connection left to move') {
          readsAtExhaustion = reads;
          exhausted();
        }
      },
      warn: () => {},
      error: () => {},
      debug: () => {},
    };
    const peers = () => {
      reads++;
      if (readsAtExhaustion >= 0 && reads >= readsAtExhaustion + 5) release();
      return pods.map((p) => p.admin);
    };
    const hot = await pod({ horizonMs: 2_000, pollIntervalMs: 200, peers }, logger);
    // Every move goes back to the hot pod, which refuses it: each client stays where it is.
    const clients = await batonClients(30, hot, () => [hot]);
    pods.push(hot, await pod({ horizonMs: 2_000, pollIntervalMs: 200, peers: () => pods.map((p) => p.admin) }));
    await asked;
    await readsAfter;
    expect(episodes).toBe(1);
    expect(hot.controller.connectionCount).toBe(30);
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
  });

  it('a peer that trickles its answer or answers garbage holds no reading open and counts for nothing', async () => {
    // A hostile or broken peer: one sends its headers, then a byte a while; one answers a huge, malformed body.
    const trickle = createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      const timer = setInterval(() => response.write(' '), 100);
      response.on('close', () => clearInterval(timer));
    });
    const garbage = createServer((_request, response) => {
      response.end(`{"instance":"x","state":"serving","connections":${'9'.repeat(70_000)}}`);
    });
    for (const server of [trickle, garbage]) {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      cleanups.push(() => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      });
    }
    const address = (server: typeof trickle) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let reads = 0;
    let release = () => {};
    const readFourTimes = new Promise<void>((resolve) => {
      release = resolve;
    });
    const hot = await pod({
      horizonMs: 1_000,
      pollIntervalMs: 100,
      peerTimeoutMs: 300,
      peers: () => {
        if (++reads === 4) release();
        return [address(trickle), address(garbage)];
      },
    });
    const clients = await batonClients(10, hot, () => [hot]);
    // Four readings began: each earlier one ended within its 300 ms although the trickle never ends.
    await readFourTimes;
    expect(hot.controller.status().rebalance).toEqual({ share: null, pods: 1 });
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
  });

  it('without the option: no reading, no move, no steering, no rebalance metrics', async () => {
    const pods: Pod[] = [];
    let polls = 0;
    let release = () => {};
    const polledThrice = new Promise<void>((resolve) => {
      release = resolve;
    });
    const plainPod = await pod(undefined);
    pods.push(plainPod);
    const clients = await batonClients(20, plainPod, () => pods);
    // A sibling that rebalances reads the fleet, the option-less pod included: the reading is the clock.
    pods.push(
      await pod({
        horizonMs: 1_000,
        pollIntervalMs: 100,
        peers: () => {
          if (++polls === 4) release();
          return pods.map((p) => p.admin);
        },
      }),
    );
    await polledThrice;
    expect(clients.every((c) => c.moves === 0 && c.closes === 0)).toBe(true);
    expect(plainPod.controller.connectionCount).toBe(20);
    // A mover is accepted (no steering without the option), and the pod's status has no rebalance view.
    const mover = await openClient(plainPod.url, ['baton.v1', 'baton.rebalance']);
    expect(mover.ws.protocol).toBe('baton.v1');
    expect(plainPod.controller.status()).not.toHaveProperty('rebalance');
  });

  it('refuses a rebalance option it cannot run, saying what to do', () => {
    const base = { signals: false as const };
    expect(() => new DrainController({ ...base, rebalance: { horizonMs: 10_000, peers: ['dns:gw:9090'] } })).toThrow(
      /needs "hintProtocol"/,
    );
    expect(
      () => new DrainController({ ...base, hintProtocol: true, rebalance: { peers: ['dns:gw:9090'] } as never }),
    ).toThrow(/rebalance.horizonMs" option is required/);
    expect(
      () => new DrainController({ ...base, hintProtocol: true, rebalance: { horizonMs: 10_000, peers: [] } }),
    ).toThrow(/must list the fleet's pods/);
    expect(
      () =>
        new DrainController({
          ...base,
          hintProtocol: true,
          rebalance: { horizonMs: 10_000, peers: ['https://10.0.0.1:9090/x'] },
        }),
    ).toThrow(/must be a bare http:\/\/host:port/);
    expect(
      () =>
        new DrainController({
          ...base,
          hintProtocol: true,
          rebalance: { horizonMs: 10_000, peers: ['x'], tolernce: 1 } as never,
        }),
    ).toThrow(/Unknown rebalance option "tolernce"/);
  });
});
