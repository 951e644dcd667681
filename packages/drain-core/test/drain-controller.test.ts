import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { openClient, type RecordedClient, tryUpgrade } from '../../../test/support/clients.js';
import { DrainController, type DrainOptions, DrainState, type StateChange } from '../src/index.js';
import { openSilentClient, startWsServer, stateReached } from './helpers.js';

const fast: DrainOptions = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 150,
  drainWindowMs: 600,
  closeTimeoutMs: 400,
  safetyMarginMs: 100,
  signals: false,
};

const cleanups = useCleanups();

async function setup(mode: 'server' | 'noServer', options: DrainOptions = {}) {
  const server = await startWsServer(mode);
  const controller = new DrainController({ ...fast, ...options });
  controller.attach(server.wss);
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  return { server, controller };
}

describe.each(['server', 'noServer'] as const)('DrainController in %s mode', (mode) => {
  it('walks serving → draining → closing → drained and closes every client with 1012 and a reason', async () => {
    const { server, controller } = await setup(mode);
    const clients = await Promise.all([1, 2, 3].map(() => openClient(server.url)));
    expect(controller.connectionCount).toBe(3);
    const changes: StateChange[] = [];
    controller.on('state', (change) => changes.push(change));

    const t0 = Date.now();
    const report = await controller.drain();
    const closes = await Promise.all(clients.map((client) => client.closed));

    expect(changes.map(({ from, to }) => `${from}>${to}`)).toEqual([
      'serving>draining',
      'draining>closing',
      'closing>drained',
    ]);
    expect(changes.every((change) => change.trigger === 'api')).toBe(true);
    for (const close of closes) {
      expect(close).toMatchObject({ code: 1012, reason: 'server draining' });
      expect(close.at).toBeGreaterThanOrEqual(t0 + fast.propagationDelayMs!);
    }
    expect(report).toMatchObject({
      trigger: 'api',
      terminating: true,
      connectionsAtClosing: 3,
      closed: 3,
      terminated: 0,
      forced: false,
    });
    expect(report.closingAt! - report.startedAt).toBeGreaterThanOrEqual(fast.propagationDelayMs!);
    expect(controller.state).toBe(DrainState.DRAINED);
  });

  it('accepts upgrades while propagating, then refuses them with 503 and Retry-After', async () => {
    const { server, controller } = await setup(mode, { drainWindowMs: 2_000, retryAfterSeconds: 3 });
    const early = await openClient(server.url);
    void controller.drain();
    expect(controller.state).toBe(DrainState.DRAINING);

    const during = await tryUpgrade(server.url);
    expect(during.status).toBe(101);
    during.ws?.on('error', () => {});
    const duringClosed = new Promise<number>((resolve) => during.ws?.once('close', (code) => resolve(code)));

    await stateReached(controller, DrainState.CLOSING);
    const after = await tryUpgrade(server.url);
    expect(after.status).toBe(503);
    expect(after.headers['retry-after']).toBe('3');
    expect(JSON.parse(after.body ?? '')).toMatchObject({ error: { code: 'BATON_ERR_DRAINING' } });

    const report = await controller.whenDrained();
    expect(await duringClosed).toBe(1012);
    expect((await early.closed).code).toBe(1012);
    expect(report.connectionsAtClosing).toBe(2);
    expect(report.refusedUpgrades).toBe(1);
  });

  it('terminates a client that never answers the close handshake, and still drains on time', async () => {
    const { server, controller } = await setup(mode);
    const silent = await openSilentClient(server.port);
    const polite = await openClient(server.url);
    const report = await controller.drain();
    const silentClosedAt = await silent.closed;
    expect((await polite.closed).code).toBe(1012);
    expect(report.terminated).toBe(1);
    expect(report.closed).toBe(2);
    // Closed at its slot (inside the window), terminated closeTimeoutMs later: all within the budget.
    expect(silentClosedAt - report.closingAt!).toBeGreaterThanOrEqual(fast.closeTimeoutMs!);
    expect(report.drainedAt - report.startedAt).toBeLessThanOrEqual(controller.budget.worstCaseDrainMs + 250);
  });
});

describe('DrainController', () => {
  it('is idempotent: later triggers return the same promise and never restart timers', async () => {
    const { server, controller } = await setup('server');
    const client = await openClient(server.url);
    const states: string[] = [];
    controller.on('state', ({ to }) => states.push(to));
    const first = controller.drain();
    const second = controller.drain({ trigger: 'admin' });
    expect(second).toBe(first);
    await stateReached(controller, DrainState.CLOSING);
    expect(controller.drain()).toBe(first);
    const report = await first;
    expect(report.trigger).toBe('api');
    expect(report.closingAt! - report.startedAt).toBeLessThan(fast.propagationDelayMs! + 100);
    expect(states).toEqual(['draining', 'closing', 'drained']);
    expect((await client.closed).code).toBe(1012);
  });

  it('keeps readiness during a termination drain and fails it during a manual one', async () => {
    const terminating = new DrainController({ ...fast });
    void terminating.drain({ trigger: 'prestop' });
    expect(terminating.isReady()).toBe(true);
    const manual = new DrainController({ ...fast });
    void manual.drain({ trigger: 'admin' });
    expect(manual.isReady()).toBe(false);
    // A manually drained pod that then gets deleted follows the termination policy.
    void manual.drain({ trigger: 'signal' });
    expect(manual.isReady()).toBe(true);
    const overridden = new DrainController({ ...fast, readyWhileTerminating: false, readyWhileManualDrain: true });
    void overridden.drain({ trigger: 'signal' });
    expect(overridden.isReady()).toBe(false);
    const overriddenManual = new DrainController({ ...fast, readyWhileManualDrain: true });
    void overriddenManual.drain({ trigger: 'admin' });
    expect(overriddenManual.isReady()).toBe(true);
    await Promise.all([terminating, manual, overridden, overriddenManual].map((c) => c.destroy()));
  });

  it('drains right after propagation when nothing is connected', async () => {
    const controller = new DrainController({ ...fast });
    const report = await controller.drain();
    expect(report.connectionsAtClosing).toBe(0);
    expect(report.drainedAt - report.startedAt).toBeGreaterThanOrEqual(fast.propagationDelayMs!);
  });

  it('tracks connections opened before attach()', async () => {
    const server = await startWsServer('server');
    cleanups.push(() => server.close());
    const client = await openClient(server.url);
    const controller = new DrainController({ ...fast });
    controller.attach(server.wss);
    expect(controller.connectionCount).toBe(1);
    await controller.drain();
    expect((await client.closed).code).toBe(1012);
  });

  it("keeps the app's verifyClient and restores it on detach", async () => {
    const verifyClient = (info: { req: { headers: Record<string, unknown> } }) => info.req.headers['x-token'] === 'ok';
    const server = await startWsServer('server', { verifyClient } as never);
    cleanups.push(() => server.close());
    const controller = new DrainController({ ...fast });
    controller.attach(server.wss);
    expect((await tryUpgrade(server.url)).status).toBe(401);
    const ok = new WebSocket(server.url, { headers: { 'x-token': 'ok' } });
    await once(ok, 'open');
    ok.close();
    controller.detach(server.wss);
    expect(server.wss.options.verifyClient).toBe(verifyClient);
    await controller.destroy();
  });

  it('refuses to attach the same server twice, or once closing', async () => {
    const { server, controller } = await setup('server');
    expect(() => controller.attach(server.wss)).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_SERVER' }),
    );
    await controller.drain();
    const other = await startWsServer('server');
    cleanups.push(() => other.close());
    expect(() => controller.attach(other.wss)).toThrowError(expect.objectContaining({ code: 'BATON_ERR_NOT_SERVING' }));
  });

  it('hints capable connections at their time and closes them at the hint deadline', async () => {
    const hinted: string[] = [];
    const paths = new WeakMap<object, string>();
    const { server, controller } = await setup('server', {
      hintTimeoutMs: 200,
      isCapable: (_socket, request) => String(request?.headers['sec-websocket-protocol'] ?? '').includes('baton.v1'),
      sendHint: (connection, context) => {
        hinted.push(paths.get(connection.socket) ?? '');
        connection.socket.send(JSON.stringify({ type: 'reconnect', deadlineAt: context.deadlineAt }));
        return true;
      },
    });
    server.wss.on('connection', (socket, request) => paths.set(socket, request.url ?? ''));
    const capable = await openClient(`${server.url}/capable`, ['baton.v1']);
    const mover = await openClient(`${server.url}/mover`, ['baton.v1']);
    const plain = await openClient(`${server.url}/plain`);
    const hints: unknown[] = [];
    capable.ws.on('message', (data) => hints.push(JSON.parse(String(data))));
    // The mover leaves on its own as soon as it is hinted, as a Baton client would.
    mover.ws.on('message', () => mover.ws.close(1000));

    const report = await controller.drain();
    expect(hinted.sort()).toEqual(['/capable', '/mover']);
    expect(hints).toEqual([{ type: 'reconnect', deadlineAt: expect.any(Number) }]);
    expect((await capable.closed).code).toBe(1012);
    expect((await mover.closed).code).toBe(1000);
    expect((await plain.closed).code).toBe(1012);
    expect(report).toMatchObject({ hinted: 2, closed: 2 });
  });

  it('destroy() terminates everything at once, is idempotent and resolves the drain', async () => {
    const { server, controller } = await setup('server');
    const clients: RecordedClient[] = await Promise.all([1, 2].map(() => openClient(server.url)));
    const pending = controller.whenDrained();
    const [first, second] = await Promise.all([controller.destroy(), controller.destroy()]);
    expect(first).toBe(second);
    expect(await pending).toBe(first);
    expect(first).toMatchObject({ forced: true, terminated: 2 });
    for (const client of clients) expect((await client.closed).code).toBe(1006);
    expect(controller.state).toBe(DrainState.DRAINED);
  });

  it('survives a throwing listener and a throwing isCapable', async () => {
    const { server, controller } = await setup('server', {
      isCapable: () => {
        throw new Error('app bug');
      },
    });
    controller.on('state', () => {
      throw new Error('listener bug');
    });
    const client = await openClient(server.url);
    const report = await controller.drain();
    expect(report.closed).toBe(1);
    expect((await client.closed).code).toBe(1012);
  });
});
