import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { openClient, type RecordedClient, tryUpgrade } from '../../../test/support/clients.js';
import {
  FAST_DRAIN,
  openSilentClient,
  startDrainedServer,
  startWsServer,
  stateReached,
} from '../../../test/support/servers.js';
import { expectSpread } from '../../../test/support/spread.js';
import { DrainController, type DrainOptions, DrainState, type StateChange } from '../src/index.js';

const fast = FAST_DRAIN;

const cleanups = useCleanups();

const setup = (mode: 'server' | 'noServer', options: DrainOptions = {}) => startDrainedServer(mode, options, cleanups);

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
  it('spreads the closes over the window: the k-th close falls in the k-th slot, none before its time', async () => {
    const windowMs = 1_200;
    const { server, controller } = await setup('server', { drainWindowMs: windowMs });
    const clients = await Promise.all(Array.from({ length: 12 }, () => openClient(server.url)));
    const report = await controller.drain();
    const closes = await Promise.all(clients.map((client) => client.closed));
    expect(closes.every((close) => close.code === 1012)).toBe(true);
    expect(report.closingAt! - report.startedAt).toBeGreaterThanOrEqual(fast.propagationDelayMs!);
    expectSpread(
      closes.map((close) => close.at),
      { startAt: report.closingAt!, windowMs, lateMs: 150 },
    );
  });

  it('closes what maxClosesPerSecond cannot fit at the window end, and says so', async () => {
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (_: unknown, message: string) => warnings.push(message) };
    // 4 closes per second over 500 ms: slots of 250 ms, so 2 of 6 fit and 4 close at the window's end.
    const { server, controller } = await setup('server', {
      drainWindowMs: 500,
      maxClosesPerSecond: 4,
      logger,
      jitter: 0,
    });
    const clients = await Promise.all(Array.from({ length: 6 }, () => openClient(server.url)));
    const report = await controller.drain();
    const offsets = (await Promise.all(clients.map((client) => client.closed)))
      .map((close) => close.at - report.closingAt!)
      .sort((a, b) => a - b);
    expect(warnings.some((message) => message.includes('maxClosesPerSecond cannot close every connection'))).toBe(true);
    // jitter 0: slot centres at 125 and 375 ms, then the window's end (500 ms) for the rest.
    expect(offsets[0]).toBeGreaterThanOrEqual(120);
    expect(offsets[1]).toBeGreaterThanOrEqual(370);
    for (const offset of offsets.slice(2)) {
      expect(offset).toBeGreaterThanOrEqual(495);
      expect(offset).toBeLessThan(500 + 150);
    }
  });

  it('gives a connection accepted after closing began a time in what is left of the window', async () => {
    const windowMs = 800;
    const server = await startWsServer('server', {
      // An async verifyClient that answers only once closing has begun: the upgrade was let through the gate
      // while draining and completes across the boundary.
      verifyClient: (_info: unknown, done: (result: boolean) => void) => {
        if (controller.state === DrainState.SERVING) return done(true);
        void stateReached(controller, DrainState.CLOSING).then(() => done(true));
      },
    });
    const controller = new DrainController({ ...fast, drainWindowMs: windowMs });
    const early = await openClient(server.url);
    controller.attach(server.wss);
    cleanups.push(
      () => server.close(),
      () => controller.destroy(),
    );
    const drained = controller.drain();
    const late = await openClient(server.url);
    const report = await drained;
    const close = await late.closed;
    expect(close.code).toBe(1012);
    expect(late.openedAt).toBeGreaterThanOrEqual(report.closingAt!);
    expect(close.at).toBeLessThanOrEqual(report.closingAt! + windowMs + 150);
    expect((await early.closed).code).toBe(1012);
    // Open when closing began: only the early one; closed: both.
    expect(report.connectionsAtClosing).toBe(1);
    expect(report.closed).toBe(2);
  });

  it('is idempotent: later triggers return the same promise and never restart timers', async () => {
    const { server, controller } = await setup('server');
    const client = await openClient(server.url);
    const states: string[] = [];
    controller.on('state', ({ to }) => states.push(to));
    const first = controller.drain();
    // A second trigger well after the first (a connection opened in between), while propagating.
    await openClient(server.url);
    expect(controller.state).toBe(DrainState.DRAINING);
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

  it('refuses a bad drain() request with a coded error, before anything starts', async () => {
    const controller = new DrainController({ ...fast });
    for (const [request, says] of [
      [{ trigger: 'reboot' }, '"trigger" must be one of'],
      [{ terminating: 'yes' }, '"terminating" must be true or false'],
      [{ drainWindowMs: -1 }, 'drainWindowMs'],
      [{ maxClosesPerSecond: 0 }, '"maxClosesPerSecond" option must be greater than 0'],
      [{ maxClosesPerSecond: 'fast' }, '"maxClosesPerSecond" option must be a number'],
    ] as const) {
      expect(() => controller.drain(request as never), JSON.stringify(request)).toThrowError(
        expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringContaining(says) }),
      );
    }
    expect(controller.state).toBe(DrainState.SERVING);
    await controller.destroy();
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
      drainWindowMs: 2_400,
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

    let hintedAt = 0;
    capable.ws.once('message', () => {
      hintedAt = Date.now();
    });

    const report = await controller.drain();
    expect(hinted.sort()).toEqual(['/capable', '/mover']);
    expect(hints).toEqual([{ type: 'reconnect', deadlineAt: expect.any(Number) }]);
    const capableClose = await capable.closed;
    expect(capableClose.code).toBe(1012);
    // Closed at its hint deadline: hintTimeoutMs (200 ms, shorter than a tenth of the window) after its hint.
    const { deadlineAt } = hints[0] as { deadlineAt: number };
    expect(deadlineAt - hintedAt).toBeGreaterThanOrEqual(200 - 10);
    expect(deadlineAt - hintedAt).toBeLessThanOrEqual(200 + 10);
    expect(capableClose.at).toBeGreaterThanOrEqual(deadlineAt - 5);
    expect(capableClose.at).toBeLessThanOrEqual(deadlineAt + 150);
    expect((await mover.closed).code).toBe(1000);
    expect((await plain.closed).code).toBe(1012);
    expect(report).toMatchObject({ hinted: 2, closed: 2 });
  });

  it('closes hinted connections that do not move at their own deadlines, keeping the spread', async () => {
    const windowMs = 1_200;
    // hintTimeoutMs longer than a tenth of the window: each deadline is its hint + 120 ms (window / 10), and the
    // hints are spread over the window less that lead.
    const { server, controller } = await setup('server', {
      drainWindowMs: windowMs,
      hintTimeoutMs: 5_000,
      isCapable: () => true,
      sendHint: (connection, context) => {
        connection.socket.send(String(context.deadlineAt));
        return true;
      },
    });
    const clients = await Promise.all(Array.from({ length: 10 }, () => openClient(server.url)));
    const hintTimes = clients.map(
      (client) =>
        new Promise<{ at: number; deadlineAt: number }>((resolve) =>
          client.ws.once('message', (data) => resolve({ at: Date.now(), deadlineAt: Number(String(data)) })),
        ),
    );
    const report = await controller.drain();
    const closes = await Promise.all(clients.map((client) => client.closed));
    const hintsSeen = await Promise.all(hintTimes);
    const leadMs = windowMs / 10;
    expectSpread(
      hintsSeen.map((hint) => hint.at),
      { startAt: report.closingAt!, windowMs: windowMs - leadMs, lateMs: 150 },
    );
    for (const [i, hint] of hintsSeen.entries()) {
      expect(hint.deadlineAt - hint.at).toBeGreaterThanOrEqual(leadMs - 10);
      expect(hint.deadlineAt - hint.at).toBeLessThanOrEqual(leadMs + 10);
      expect(closes[i]!.code).toBe(1012);
      expect(closes[i]!.at).toBeGreaterThanOrEqual(hint.deadlineAt - 5);
    }
    // The closes keep the hints' spread, one lead later: never all together at the window's end.
    expectSpread(
      closes.map((close) => close.at),
      { startAt: report.closingAt! + leadMs, windowMs: windowMs - leadMs, lateMs: 150 },
    );
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
