// The Redis session store against a real redis-server: single use with GETDEL, TTL with PX, the key prefix,
// and what happens when Redis is down, slow or flushed — a coded fresh start within the timeout, no crash,
// and recovery when Redis returns.

import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../test/support/redis-server.js';
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
      () => new RedisStore({ client: { set: async () => 'OK', getDel: async () => null }, timeoutMs: 0 }),
    ).toThrowError(expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION' }));
  });
});
