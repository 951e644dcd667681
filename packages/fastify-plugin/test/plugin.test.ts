import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { manualDrain } from '../../../test/support/drain-requests.js';
import { TEST_ADMIN_TOKEN } from '../../../test/support/secrets.js';
import { openSilentClient } from '../../../test/support/servers.js';
import { expectSpread } from '../../../test/support/spread.js';
import baton, { type BatonPluginOptions, batonFastifyPlugin, batonPreClose } from '../src/index.js';

const fast: BatonPluginOptions = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 200,
  drainWindowMs: 500,
  closeTimeoutMs: 500,
  safetyMarginMs: 100,
  signals: false,
  metrics: false,
};

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close().catch(() => {});
});

async function gateway(
  options: BatonPluginOptions = fast,
  websocketOptions: Record<string, unknown> = { preClose: batonPreClose },
) {
  const app = Fastify();
  apps.push(app);
  await app.register(websocket, websocketOptions);
  await app.register(baton, options);
  app.get('/', { websocket: true }, (socket, request) => {
    socket.send(JSON.stringify({ resumed: request.batonResume.resumed }));
    socket.on('message', (data) => socket.send(data));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  return { app, port, url: `ws://127.0.0.1:${port}/` };
}

async function client(url: string) {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.once('close', (code) => resolve({ code, at: Date.now() })),
  );
  await once(ws, 'open');
  return { ws, closed };
}

describe('@baton/fastify-plugin', () => {
  it('is exported by name and as default, as a fastify-plugin with its metadata', () => {
    expect(baton).toBe(batonFastifyPlugin);
    const meta = (baton as unknown as Record<symbol, { name: string; fastify: string; dependencies: string[] }>)[
      Symbol.for('plugin-meta')
    ];
    expect(meta).toMatchObject({ name: '@baton/fastify-plugin', fastify: '5.x', dependencies: ['@fastify/websocket'] });
  });

  it('fastify.close() drains with 1012 spread over the window, at once (no propagation delay), instead of closing everyone at once without a code', async () => {
    const windowMs = 1_000;
    const { app, url } = await gateway({ ...fast, drainWindowMs: windowMs });
    const clients = await Promise.all(Array.from({ length: 10 }, () => client(url)));
    expect(app.baton.connectionCount).toBe(10);
    const report = app.baton.whenDrained();
    await app.close();
    const { startedAt, closingAt } = await report;
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((close) => close.code === 1012)).toBe(true);
    // fastify already refuses new requests: closing starts at once.
    expect(closingAt! - startedAt).toBeLessThan(50);
    expectSpread(
      closes.map((close) => close.at),
      { startAt: closingAt!, windowMs, lateMs: 150 },
    );
    expect(app.baton.state).toBe('drained');
  });

  it('with default options: await app.close() resolves at once with no connections and without a plugin timeout', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(websocket, { preClose: batonPreClose });
    await app.register(baton);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(app.baton.state).toBe('drained');
  });

  it('with default options: 50 open connections get 1012, spread, and close() resolves inside the budget', async () => {
    const warnings: string[] = [];
    const app = Fastify();
    apps.push(app);
    await app.register(websocket, { preClose: batonPreClose });
    app.log.warn = ((message: unknown, text?: string) => warnings.push(String(text ?? message))) as never;
    await app.register(baton);
    app.get('/', { websocket: true }, () => {});
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
    // The default budget's window (8 s) plus its close timeout (5 s) does not fit fastify's default
    // pluginTimeout (10 s): the plugin said so at registration and fits the window fastify.close() runs.
    expect(warnings.some((w) => w.includes('pluginTimeout (10000 ms)') && w.includes('4500 ms'))).toBe(true);
    const clients = await Promise.all(Array.from({ length: 50 }, () => client(url)));
    const report = app.baton.whenDrained();
    const started = Date.now();
    await app.close();
    const elapsed = Date.now() - started;
    const { closingAt } = await report;
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((close) => close.code === 1012)).toBe(true);
    expect(elapsed).toBeLessThan(app.baton.budget.gracePeriodMs);
    expect(elapsed).toBeLessThan(10_000);
    expectSpread(
      closes.map((close) => close.at),
      { startAt: closingAt!, windowMs: 4_500, lateMs: 250 },
    );
  });

  it('does not warn about pluginTimeout when the drain fits it', async () => {
    const warnings: string[] = [];
    const app = Fastify({ pluginTimeout: 20_000 });
    apps.push(app);
    await app.register(websocket, { preClose: batonPreClose });
    app.log.warn = ((message: unknown, text?: string) => warnings.push(String(text ?? message))) as never;
    await app.register(baton, { signals: false });
    await app.ready();
    expect(warnings.filter((w) => w.includes('pluginTimeout'))).toEqual([]);
  });

  it('fastify.close() with a client that never answers the close handshake finishes inside the budget', async () => {
    const { app, port, url } = await gateway();
    const silent = await openSilentClient(port);
    await client(url);
    const started = Date.now();
    await app.close();
    const elapsed = Date.now() - started;
    await silent.closed;
    expect(elapsed).toBeLessThanOrEqual(app.baton.budget.worstCaseDrainMs + 500);
    expect(elapsed).toBeLessThan(fast.gracePeriodMs!);
  });

  it('warns, and still drains what is left, when @fastify/websocket keeps its default preClose', async () => {
    const warnings: string[] = [];
    const logger = {
      info() {},
      error() {},
      debug() {},
      warn: (...args: unknown[]) => warnings.push(String(args.at(-1))),
    };
    const { app, url } = await gateway({ ...fast, logger }, {});
    const c = await client(url);
    (app as unknown as { log: typeof logger }).log.warn = logger.warn;
    await app.close();
    // The default preClose closed it first, without a code: exactly what batonPreClose exists to prevent.
    expect((await c.closed).code).toBe(1005);
    expect(warnings.some((w) => w.includes('register it with { preClose: batonPreClose }'))).toBe(true);
  });

  it('validates options at registration with coded errors', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(websocket, { preClose: batonPreClose });
    await expect(app.register(baton, { gracePeriodMs: 10_000, drainWindowMs: 20_000 }).after()).rejects.toMatchObject({
      code: 'BATON_ERR_BUDGET',
    });
  });

  it('needs @fastify/websocket registered first', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(baton, fast).after()).rejects.toThrow(/@fastify\/websocket/);
  });

  it('serves the admin endpoints on their own listener, and answers upgrades with 503 once closing', async () => {
    const { app, url } = await gateway({
      ...fast,
      admin: { port: 0, host: '127.0.0.1', token: TEST_ADMIN_TOKEN },
      drainWindowMs: 2_000,
    });
    const admin = `http://127.0.0.1:${app.baton.adminAddress()!.port}`;
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const existing = await client(url);
    // Listening before the trigger: the state change cannot be missed.
    const closing = new Promise<void>((resolve) => app.baton.on('state', ({ to }) => to === 'closing' && resolve()));
    expect((await manualDrain(admin, TEST_ADMIN_TOKEN)).status).toBe(202);
    await closing;
    const refused = new WebSocket(url);
    const [, response] = await once(refused, 'unexpected-response');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect((await existing.closed).code).toBe(1012);
  });

  it('exposes the resume result on the request of a websocket route', async () => {
    const { url } = await gateway({ ...fast, hintProtocol: true });
    const ws = new WebSocket(url, ['baton.v1', 'baton.resume.bogus']);
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    await once(ws, 'open');
    await new Promise<void>((resolve) => {
      const check = () => (messages.length >= 2 ? resolve() : ws.once('message', check));
      check();
    });
    expect(messages[0]).toContain('"resumeError":"BATON_ERR_RESUME_UNSUPPORTED"');
    expect(JSON.parse(messages[1] ?? '{}')).toEqual({ resumed: false });
    ws.close();
  });
});
