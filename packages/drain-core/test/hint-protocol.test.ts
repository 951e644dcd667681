import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { startWsServer } from '../../../test/support/servers.js';
import { Handoff, MemoryStore } from '../../handoff/src/index.js';
import { CONTROL_PREFIX, DrainController, type DrainOptions } from '../src/index.js';

const fast: DrainOptions = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 50,
  drainWindowMs: 300,
  closeTimeoutMs: 400,
  safetyMarginMs: 100,
  hintTimeoutMs: 2_000,
  signals: false,
};
const SECRET = 'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9pY7uE3iO1wT8=';
const handoff = new Handoff({ keys: [{ id: 'k1', secret: SECRET }] });

const cleanups = useCleanups();

async function gateway(options: DrainOptions, wsOptions = {}) {
  const server = await startWsServer('server', wsOptions);
  const controller = new DrainController({ ...fast, ...options });
  controller.attach(server.wss);
  const seen: { protocol: string; resume: unknown }[] = [];
  server.wss.on('connection', (socket, request) => {
    seen.push({ protocol: socket.protocol, resume: controller.resumeOf(request) });
    (socket as WebSocket & { session?: unknown }).session = { n: 7 };
  });
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  return { server, controller, seen };
}

function control(data: unknown): Record<string, unknown> | undefined {
  const text = String(data);
  return text.startsWith(CONTROL_PREFIX) ? JSON.parse(text.slice(CONTROL_PREFIX.length)) : undefined;
}

async function connect(url: string, protocols: string[]) {
  const ws = new WebSocket(url, protocols);
  const messages: unknown[] = [];
  let wake = () => {};
  ws.on('message', (data) => {
    messages.push(control(data) ?? String(data));
    wake();
  });
  await once(ws, 'open');
  /** Resolves once `count` messages arrived (they may already have). */
  const received = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (messages.length >= count) resolve();
      };
      wake = check;
      check();
    });
  return { ws, messages, received };
}

describe('hint protocol v1 (server side)', () => {
  it('selects baton.v1 when the app has no protocol, strips Baton entries from the app, and welcomes', async () => {
    const { server, seen } = await gateway({ hintProtocol: { handoff, snapshot: () => ({}) } });
    const { ws, messages, received } = await connect(server.url, ['baton.v1']);
    expect(ws.protocol).toBe('baton.v1');
    await received(1);
    expect(messages[0]).toEqual({
      t: 'welcome',
      v: 1,
      k: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      resumed: false,
    });
    expect(seen[0]).toEqual({ protocol: 'baton.v1', resume: { resumed: false } });
  });

  it('checkpoint(socket) sends a resume token of the session as of now; periodically with checkpointIntervalMs', async () => {
    const snapshot = (socket: WebSocket) => (socket as WebSocket & { session?: unknown }).session;
    const { server, controller } = await gateway({ hintProtocol: { handoff, snapshot, checkpointIntervalMs: 200 } });
    const client = await connect(server.url, ['baton.v1']);
    const plain = await connect(server.url, []);
    const sockets = [...server.wss.clients];
    const capable = sockets.find((socket) => socket.protocol === 'baton.v1') as WebSocket;
    const notCapable = sockets.find((socket) => socket.protocol === '') as WebSocket;
    expect(await controller.checkpoint(capable)).toBe(true);
    expect(await controller.checkpoint(notCapable)).toBe(false);
    // welcome, the checkpoint asked for, and two periodic ones (200 ms apart).
    await client.received(4);
    const checkpoints = client.messages.slice(1, 4) as { t: string; v: number; token: string }[];
    for (const checkpoint of checkpoints) {
      expect(checkpoint).toMatchObject({ t: 'checkpoint', v: 1 });
      expect(await handoff.open(checkpoint.token)).toEqual({ n: 7 });
    }
    expect(plain.messages).toEqual([]);
  });

  it('sends no checkpoint once the connection was hinted', async () => {
    const { server, controller } = await gateway({ hintProtocol: { handoff, snapshot: () => ({}) } });
    const client = await connect(server.url, ['baton.v1']);
    const socket = [...server.wss.clients][0] as WebSocket;
    void controller.drain();
    await client.received(2); // welcome, reconnect
    expect(client.messages[1]).toMatchObject({ t: 'reconnect' });
    expect(await controller.checkpoint(socket)).toBe(false);
  });

  it('refuses checkpointIntervalMs without a handoff', () => {
    expect(() => new DrainController({ ...fast, hintProtocol: { checkpointIntervalMs: 1000 } })).toThrowError(
      expect.objectContaining({
        code: 'BATON_ERR_INVALID_OPTION',
        message: expect.stringContaining('needs "hintProtocol.handoff"'),
      }),
    );
  });

  it("lets the app's handleProtocols choose among its own entries only", async () => {
    const offeredToApp: string[][] = [];
    const { server } = await gateway(
      { hintProtocol: true },
      {
        handleProtocols: (protocols: Set<string>) => {
          offeredToApp.push([...protocols]);
          return protocols.has('chat.v2') ? 'chat.v2' : false;
        },
      },
    );
    const { ws } = await connect(server.url, ['chat.v2', 'baton.v1', 'baton.resume.abc']);
    expect(ws.protocol).toBe('chat.v2');
    expect(offeredToApp).toEqual([['chat.v2']]);
  });

  it('hints capable clients with a sealed snapshot and resumes it on the next server', async () => {
    const snapshot = (socket: WebSocket) => (socket as WebSocket & { session?: unknown }).session;
    const old = await gateway({ hintProtocol: { handoff, snapshot } });
    const next = await gateway({ hintProtocol: { handoff, snapshot } });
    const client = await connect(old.server.url, ['baton.v1']);
    const plain = await connect(old.server.url, []);
    expect(plain.ws.protocol).toBe('');
    // Listening before the trigger: the hint cannot come before the listener whatever the timing.
    const hinted = new Promise<Record<string, unknown>>((resolve) => {
      client.ws.on('message', (data) => {
        const message = control(data);
        if (message?.t === 'reconnect') resolve(message);
      });
    });
    void old.controller.drain();
    const hint = await hinted;
    expect(hint).toMatchObject({
      t: 'reconnect',
      v: 1,
      reason: 'server draining',
      deadline: expect.any(Number),
      token: expect.any(String),
    });
    // A plain client never sees a control message.
    expect(plain.messages.some((message) => typeof message === 'object')).toBe(false);

    const moved = await connect(next.server.url, ['baton.v1', `baton.resume.${hint.token}`]);
    await moved.received(1);
    expect(moved.messages[0]).toEqual({
      t: 'welcome',
      v: 1,
      k: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      resumed: true,
    });
    expect(next.seen[0]?.resume).toEqual({ resumed: true, state: { n: 7 } });
    client.ws.close(1000);
    const report = await old.controller.whenDrained();
    expect(report).toMatchObject({ hinted: 1, closed: 1 });
  });

  it.each([
    ['forged', 'AQJrMQ' + 'A'.repeat(60), 'BATON_ERR_TOKEN_FORGED'],
    ['garbage', 'not-a-token', 'BATON_ERR_TOKEN_MALFORMED'],
  ])('starts a fresh session on a %s token and says why in the welcome', async (_label, token, code) => {
    const { server, seen } = await gateway({ hintProtocol: { handoff, snapshot: () => ({}) } });
    const { messages, received } = await connect(server.url, ['baton.v1', `baton.resume.${token}`]);
    await received(1);
    expect(messages[0]).toEqual({
      t: 'welcome',
      v: 1,
      k: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      resumed: false,
      resumeError: code,
    });
    expect(seen[0]?.resume).toEqual({ resumed: false, error: code });
  });

  it('answers every kind of bad token with a fresh session and its code, never a crash', async () => {
    let now = Date.now();
    const clock = () => now;
    const store = new MemoryStore({ now: clock });
    const stored = new Handoff({
      keys: [{ id: 'k1', secret: SECRET }],
      store,
      ttlMs: 1_000,
      now: clock,
      maxTokenBytes: 512,
    });
    const otherCluster = new Handoff({
      keys: [{ id: 'k9', secret: 'Zm9vYmFyLWFub3RoZXItY2x1c3Rlci1rZXktMTIzNDU2Nzg=' }],
    });
    const { server, seen } = await gateway({ hintProtocol: { handoff: stored, snapshot: () => ({}) } });

    const valid = await stored.seal({ n: 1 });
    const expiring = await stored.seal({ n: 2 });
    const cases: [string, string][] = [
      [valid, ''],
      [valid, 'BATON_ERR_TOKEN_REPLAYED'],
      [valid.slice(0, -10), 'BATON_ERR_TOKEN_'],
      [await otherCluster.seal({ n: 3 }), 'BATON_ERR_TOKEN_BAD_KEY'],
      ['A'.repeat(600), 'BATON_ERR_TOKEN_TOO_LARGE'],
    ];
    for (const [token, code] of cases) {
      const { ws, messages, received } = await connect(server.url, ['baton.v1', `baton.resume.${token}`]);
      await received(1);
      const welcome = messages[0] as { resumed: boolean; resumeError?: string };
      if (code === '')
        expect(welcome).toEqual({ t: 'welcome', v: 1, k: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), resumed: true });
      else expect(welcome.resumeError?.startsWith(code)).toBe(true);
      ws.close();
    }
    now += 1_001;
    const { messages, received } = await connect(server.url, ['baton.v1', `baton.resume.${expiring}`]);
    await received(1);
    expect(messages[0]).toEqual({
      t: 'welcome',
      v: 1,
      k: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      resumed: false,
      resumeError: 'BATON_ERR_TOKEN_EXPIRED',
    });
    expect(seen).toHaveLength(cases.length + 1);
  });

  it("store mode: a connection's newest checkpoint supersedes its older ones (a stolen older token opens nothing)", async () => {
    const stored = new Handoff({ keys: [{ id: 'k1', secret: SECRET }], store: new MemoryStore() });
    const { server, controller } = await gateway({ hintProtocol: { handoff: stored, snapshot: () => ({ n: 7 }) } });
    const client = await connect(server.url, ['baton.v1']);
    const socket = [...server.wss.clients][0] as WebSocket;
    expect(await controller.checkpoint(socket)).toBe(true);
    expect(await controller.checkpoint(socket)).toBe(true);
    await client.received(3);
    const [older, newest] = client.messages.slice(1, 3) as { token: string }[];
    const stolen = await connect(server.url, ['baton.v1', `baton.resume.${older?.token}`]);
    await stolen.received(1);
    expect(stolen.messages[0]).toMatchObject({ resumed: false, resumeError: 'BATON_ERR_TOKEN_SUPERSEDED' });
    const genuine = await connect(server.url, ['baton.v1', `baton.resume.${newest?.token}`]);
    await genuine.received(1);
    expect(genuine.messages[0]).toMatchObject({ resumed: true });
  });

  it("store mode: a resume refused by the app's verifyClient or by admission control keeps its session for the retry", async () => {
    const stored = new Handoff({ keys: [{ id: 'k1', secret: SECRET }], store: new MemoryStore() });
    let refuse: 'app' | 'none' = 'app';
    const { server, seen } = await gateway(
      {
        hintProtocol: { handoff: stored, snapshot: () => ({}) },
        // Two resumes, then one a minute: the third resume upgrade below is refused with a 503.
        // (the resume bucket holds burst × resume rate / fresh rate = 2)
        admission: { maxAcceptsPerSecond: 2, resumeAcceptsPerSecond: 1 / 60, burst: 240 },
      },
      { verifyClient: (_info: unknown, done: (ok: boolean, code?: number) => void) => done(refuse === 'none', 401) },
    );
    const refusedWith = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(server.url, ['baton.v1', `baton.resume.${token}`]);
        ws.on('error', () => {});
        ws.on('unexpected-response', (_request, response) => {
          resolve(response.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => reject(new Error('the upgrade was accepted')));
      });
    const session = {};
    const token = await stored.seal({ n: 1 }, session);
    // The app refuses the first try (say, an expired cookie refreshed since).
    expect(await refusedWith(token)).toBe(401);
    refuse = 'none';
    const first = await connect(server.url, ['baton.v1', `baton.resume.${token}`]);
    await first.received(1);
    expect(first.messages[0]).toMatchObject({ t: 'welcome', resumed: true });
    // A second session, refused by admission control (the resume bucket is empty for a minute).
    const second = await stored.seal({ n: 2 }, {});
    expect(await refusedWith(second)).toBe(503);
    expect(seen).toHaveLength(1);
    // The token was opened and refused; it is back in the store, and opens (here, directly: no 503 then).
    await expect
      .poll(() =>
        stored.open(second).then(
          () => 'opened',
          (error: { code: string }) => error.code,
        ),
      )
      .toBe('opened');
  });

  it('refuses conflicting hook options', () => {
    expect(() => new DrainController({ hintProtocol: true, sendHint: () => true })).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION' }),
    );
    expect(() => new DrainController({ hintProtocol: { handoff } as never })).toThrowError(
      /needs "hintProtocol.snapshot"/,
    );
  });
});
