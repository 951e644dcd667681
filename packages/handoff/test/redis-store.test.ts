// The Redis session store against a real redis-server: single use with GETDEL, TTL with PX, the key prefix,
// and what happens when Redis is down, slow or flushed — a coded fresh start within the timeout, no crash,
// and recovery when Redis returns.

import { createClient, createCluster, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTestCertificate,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
} from '../../../test/support/redis-server.js';
import { Handoff, RedisStore } from '../src/index.js';

const keys = [{ id: 'k1', secret: 'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9pY7uE3iO1wT8=' }];
let redis: RedisServer;
const clients: RedisClientType[] = [];
const clientErrors: string[] = [];

/** A node-redis client as an application would make one: errors handled, no offline queue. */
async function connectClient(): Promise<RedisClientType> {
  const client: RedisClientType = createClient({
    url: redis.url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: () => 50 },
  });
  client.on('error', (error: Error) => clientErrors.push(error.message));
  await client.connect();
  clients.push(client);
  return client;
}

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await redis?.stop();
});

describe('RedisStore', () => {
  it('hands a session from one pod to another once: SET PX under the prefix, GETDEL on open', async () => {
    const [oldPodClient, newPodClient, inspector] = [
      await connectClient(),
      await connectClient(),
      await connectClient(),
    ];
    const oldPod = new Handoff({
      keys,
      ttlMs: 30_000,
      store: new RedisStore({ client: oldPodClient, keyPrefix: 'test:a:' }),
    });
    const newPod = new Handoff({ keys, store: new RedisStore({ client: newPodClient, keyPrefix: 'test:a:' }) });
    const token = await oldPod.seal({ session: 'abc', n: 41 });
    const stored = await inspector.keys('test:a:*');
    expect(stored).toHaveLength(1);
    const ttl = await inspector.pTTL(stored[0] as string);
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    // The token names the entry; the state is not in it.
    expect(token).not.toContain('abc');
    expect(await newPod.open(token)).toEqual({ session: 'abc', n: 41 });
    await expect(newPod.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_REPLAYED' });
    expect(await inspector.keys('test:a:*')).toEqual([]);
  });

  it('keeps one live token per session (one key, the newest generation) and puts back a refused one', async () => {
    const [oldPodClient, newPodClient, inspector] = [
      await connectClient(),
      await connectClient(),
      await connectClient(),
    ];
    const oldPod = new Handoff({ keys, store: new RedisStore({ client: oldPodClient, keyPrefix: 'test:g:' }) });
    const newPod = new Handoff({ keys, store: new RedisStore({ client: newPodClient, keyPrefix: 'test:g:' }) });
    const session = {};
    const older = await oldPod.seal({ n: 1 }, session);
    const newest = await oldPod.seal({ n: 2 }, session);
    expect(await inspector.keys('test:g:*')).toHaveLength(1);
    await expect(newPod.open(older)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
    const state = await newPod.open(newest);
    expect(state).toEqual({ n: 2 });
    expect(await inspector.keys('test:g:*')).toEqual([]);
    // The upgrade is refused after the open: put back, with what was left of its TTL, and it opens again once.
    await newPod.restore(newest, state);
    expect(await inspector.pTTL((await inspector.keys('test:g:*'))[0] as string)).toBeGreaterThan(50_000);
    expect(await newPod.open(newest)).toEqual({ n: 2 });
    await expect(newPod.open(newest)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_REPLAYED' });
    // Put back after the old pod sealed a newer generation: the newer one stays, the older stays dead.
    await newPod.restore(newest, state);
    await newPod.open(newest);
    const third = await oldPod.seal({ n: 3 }, session);
    await newPod.restore(newest, state);
    await expect(newPod.open(newest)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
    expect(await newPod.open(third)).toEqual({ n: 3 });
  });

  it('after a FLUSHALL the session starts fresh with a coded reason', async () => {
    const client = await connectClient();
    const handoff = new Handoff({ keys, store: new RedisStore({ client }) });
    const token = await handoff.seal({ session: 'flushed' });
    await client.flushAll();
    await expect(handoff.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_REPLAYED' });
  });

  it('a slow Redis never holds an upgrade past the timeout', async () => {
    const [client, admin] = [await connectClient(), await connectClient()];
    const handoff = new Handoff({ keys, store: new RedisStore({ client, timeoutMs: 200 }) });
    const token = await handoff.seal({ session: 'slow' });
    // Every other client's commands wait for 1.5 s (CLIENT PAUSE): Redis answers, but late.
    await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL']);
    const started = performance.now();
    await expect(handoff.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1_000);
    await admin.sendCommand(['CLIENT', 'UNPAUSE']);
  });

  it('Redis down: coded failures within the timeout, no crash; Redis back: it works again', async () => {
    const client = await connectClient();
    const handoff = new Handoff({ keys, store: new RedisStore({ client, timeoutMs: 250 }) });
    const before = await handoff.seal({ session: 'before' });
    await redis.stop();
    const started = performance.now();
    await expect(handoff.seal({ session: 'during' })).rejects.toMatchObject({
      code: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE',
    });
    await expect(handoff.open(before)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1_000);
    // Back (empty: the outage lost what it held), and the same client reconnects on its own.
    // Not events.once: it would reject on the 'error' events the outage keeps emitting.
    const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
    await redis.start();
    await ready;
    const after = await handoff.seal({ session: 'after' });
    expect(await handoff.open(after)).toEqual({ session: 'after' });
    expect(clientErrors.length).toBeGreaterThan(0);
  });

  it('refuses a client that is not a node-redis client, and a bad timeout, with coded errors', () => {
    expect(() => new RedisStore({ client: {} as never })).toThrowError(
      expect.objectContaining({
        code: 'BATON_ERR_INVALID_OPTION',
        message: expect.stringContaining('node-redis client'),
      }),
    );
    expect(
      () => new RedisStore({ client: { set: async () => 'OK', eval: async () => null }, timeoutMs: 0 }),
    ).toThrowError(expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION' }));
  });
});

describe('RedisStore on Redis Cluster (3 masters on loopback)', () => {
  it('hands sessions over across the slots of every master; a master down fails its sessions closed within the timeout and leaves the others working', async () => {
    const cluster = await startRedisCluster();
    const rootNodes = [{ url: cluster.nodes[0]?.url as string }];
    const connect = async () => {
      const client = createCluster({
        rootNodes,
        defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: () => 50, connectTimeout: 500 } },
      });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    const [oldPodClient, newPodClient] = [await connect(), await connect()];
    try {
      const store = (client: typeof oldPodClient) =>
        new RedisStore({ client: client as unknown as import('../src/index.js').RedisCommands, timeoutMs: 250 });
      const oldPod = new Handoff({ keys, store: store(oldPodClient) });
      const newPod = new Handoff({ keys, store: store(newPodClient) });
      // Enough sessions that every master holds some (each of 60 random keys misses a given third with p = 2/3).
      const tokens = await Promise.all(Array.from({ length: 60 }, (_, n) => oldPod.seal({ n }, {})));
      const slotOf = async (token: string) => {
        const { ref } = oldPod.sealer.open(token) as { ref: string };
        return Number(
          await oldPodClient.sendCommand(`baton:session:${ref}`, true, ['CLUSTER', 'KEYSLOT', `baton:session:${ref}`]),
        );
      };
      const slots = await Promise.all(tokens.map(slotOf));
      const onMiddle = (slot: number) => slot >= 5461 && slot <= 10922;
      // Superseding works across the cluster as on one server.
      const session = {};
      const older = await oldPod.seal({ n: 'older' }, session);
      const newest = await oldPod.seal({ n: 'newest' }, session);
      await expect(newPod.open(older)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
      expect(await newPod.open(newest)).toEqual({ n: 'newest' });

      // The middle master goes down (a failover in progress, for the sessions on its slots).
      await cluster.nodes[1]?.stop();
      const outcomes = await Promise.all(
        tokens.map(async (token, n) => {
          const started = performance.now();
          const outcome = await newPod.open(token).then(
            (state) => ((state as { n: number }).n === n ? 'resumed' : 'wrong state'),
            (error: { code: string }) => error.code,
          );
          return { outcome, ms: performance.now() - started, middle: onMiddle(slots[n] as number) };
        }),
      );
      for (const { outcome, ms, middle } of outcomes) {
        expect(outcome).toBe(middle ? 'BATON_ERR_TOKEN_STORE_UNAVAILABLE' : 'resumed');
        expect(ms).toBeLessThan(1_000);
      }
      expect(outcomes.filter((o) => o.middle).length).toBeGreaterThan(0);
      expect(outcomes.filter((o) => !o.middle).length).toBeGreaterThan(0);
    } finally {
      oldPodClient.destroy();
      newPodClient.destroy();
      await cluster.stop();
    }
  });
});

describe('RedisStore over TLS (rediss://, a certificate the test makes)', () => {
  it('hands a session over TLS; a client that does not trust the certificate fails closed within the timeout', async () => {
    const certificate = await makeTestCertificate();
    const server = await startRedisServer({ tls: certificate });
    const trusting = createClient({
      url: server.url,
      disableOfflineQueue: true,
      socket: { tls: true, ca: certificate.certPem, reconnectStrategy: () => 50 },
    });
    trusting.on('error', () => {});
    const untrusting = createClient({
      url: server.url,
      disableOfflineQueue: true,
      socket: { tls: true, reconnectStrategy: false },
    });
    const untrustingErrors: string[] = [];
    untrusting.on('error', (error: Error) => untrustingErrors.push(error.message));
    try {
      await trusting.connect();
      const handoff = new Handoff({ keys, store: new RedisStore({ client: trusting, timeoutMs: 250 }) });
      const session = {};
      const older = await handoff.seal({ over: 'tls', n: 1 }, session);
      const newest = await handoff.seal({ over: 'tls', n: 2 }, session);
      await expect(handoff.open(older)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
      expect(await handoff.open(newest)).toEqual({ over: 'tls', n: 2 });

      await expect(untrusting.connect()).rejects.toThrow(/self.signed|certificate/i);
      const refused = new Handoff({ keys, store: new RedisStore({ client: untrusting, timeoutMs: 250 }) });
      const started = performance.now();
      await expect(refused.seal({ n: 3 })).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE' });
      await expect(refused.open(newest)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      trusting.destroy();
      if (untrusting.isOpen) untrusting.destroy();
      await server.stop();
      await certificate.remove();
    }
  });
});
