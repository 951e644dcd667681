import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { CONTROL_PREFIX } from '../../drain-core/src/index.js';
import { BatonSocket, QueueFullError } from '../src/index.js';

const WS = WebSocket;
const cleanups = useCleanups();

async function server(
  onConnection: (socket: WebSocket, protocols: string) => void,
  handleProtocols?: (p: Set<string>) => string | false,
) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, ...(handleProtocols ? { handleProtocols } : {}) });
  wss.on('connection', (socket, request) =>
    onConnection(socket, String(request.headers['sec-websocket-protocol'] ?? '')),
  );
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(() => {
    for (const client of wss.clients) client.terminate();
    return new Promise((resolve) => http.close(resolve));
  });
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function nextEvent<T extends Event>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) => target.addEventListener(type, (event) => resolve(event as T), { once: true }));
}

describe('BatonSocket', () => {
  it('moves to the server the url option picks when there is no load balancer', async () => {
    const welcome = `${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false}`;
    const b = await server((socket) => {
      socket.send(welcome);
      socket.send('from b');
    });
    const a = await server((socket) => {
      socket.send(welcome);
      socket.send(`${CONTROL_PREFIX}{"t":"reconnect","v":1,"deadline":${Date.now() + 5_000},"reason":"draining"}`);
    });
    const reasons: string[] = [];
    const socket = new BatonSocket(a, [], {
      WebSocket: WS,
      url: ({ reason, current }) => {
        reasons.push(reason);
        return reason === 'connect' ? current : b;
      },
    });
    cleanups.push(() => socket.close());
    const message = nextEvent<MessageEvent>(socket, 'message');
    await nextEvent(socket, 'migrated');
    expect((await message).data).toBe('from b');
    expect(reasons).toEqual(['connect', 'move']);
    expect(socket.currentUrl).toBe(b);
    expect(socket.url).toBe(a);
  });

  it('keeps the latest checkpoint token, hidden from the app, and offers it when the server is lost without a hint', async () => {
    const offered: string[] = [];
    const url = await server((socket, protocols) => {
      offered.push(protocols);
      socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":${offered.length > 1}}`);
      if (offered.length === 1) {
        socket.send(`${CONTROL_PREFIX}{"t":"checkpoint","v":1,"token":"first-token"}`);
        socket.send(`${CONTROL_PREFIX}{"t":"checkpoint","v":1,"token":"latest-token"}`);
        // Then the server dies: no close frame, no hint (terminated once the frames were written).
        socket.send('app message', () => socket.terminate());
      }
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS, initialDelayMs: 10, maxDelayMs: 20 });
    cleanups.push(() => socket.close());
    const appMessages: unknown[] = [];
    socket.addEventListener('message', (event) => appMessages.push(event.data));
    await nextEvent(socket, 'resumed');
    expect(appMessages).toEqual(['app message']);
    expect(offered[1]).toBe('baton.v1,baton.resume.latest-token');
  });

  it('refuses a url option that is not a function, with a TypeError', () => {
    expect(() => new BatonSocket('ws://127.0.0.1:1/', [], { WebSocket: WS, url: 'ws://x' as never })).toThrow(
      TypeError,
    );
  });

  it('offers baton.v1 after the app protocols and hides it from the app', async () => {
    const offered: string[] = [];
    const url = await server((_socket, protocols) => offered.push(protocols));
    const socket = new BatonSocket(url, ['chat.v2'], { WebSocket: WS });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    expect(offered).toEqual(['chat.v2,baton.v1']);
    expect(socket.protocol).toBe('chat.v2');
    expect(socket.readyState).toBe(BatonSocket.OPEN);
  });

  it("reports '' as protocol when the server selected only baton.v1", async () => {
    const url = await server(
      () => {},
      (protocols) => (protocols.has('baton.v1') ? 'baton.v1' : false),
    );
    const socket = new BatonSocket(url, [], { WebSocket: WS });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    expect(socket.protocol).toBe('');
  });

  it('never hands control messages to the app, and reports resume results', async () => {
    const url = await server((socket) => {
      socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false,"resumeError":"BATON_ERR_TOKEN_EXPIRED"}`);
      socket.send(`${CONTROL_PREFIX}garbage`);
      socket.send('app message');
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS });
    cleanups.push(() => socket.close());
    const failed = nextEvent<Event & { resumeError?: string }>(socket, 'resume-failed');
    const message = await nextEvent<Event & { data: unknown }>(socket, 'message');
    expect(String(message.data)).toBe('app message');
    expect((await failed).resumeError).toBe('BATON_ERR_TOKEN_EXPIRED');
  });

  it('throws on send before the first open, like a WebSocket', async () => {
    const url = await server(() => {});
    const socket = new BatonSocket(url, [], { WebSocket: WS });
    cleanups.push(() => socket.close());
    expect(() => socket.send('early')).toThrowError(expect.objectContaining({ name: 'InvalidStateError' }));
    await nextEvent(socket, 'open');
  });

  it('reconnects after an unexpected close: close then open again, and sends made meanwhile go out in order', async () => {
    const received: string[] = [];
    let connections = 0;
    let gotBoth = () => {};
    const both = new Promise<void>((resolve) => {
      gotBoth = resolve;
    });
    const url = await server((socket) => {
      connections++;
      socket.on('message', (data) => {
        received.push(String(data));
        if (received.length === 2) gotBoth();
      });
      if (connections === 1) socket.close(1012, 'restart');
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS, restartDelayMs: 50 });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    const close = await nextEvent<Event & { code: number }>(socket, 'close');
    expect(close.code).toBe(1012);
    expect(socket.readyState).toBe(BatonSocket.CONNECTING);
    socket.send('a');
    socket.send('b');
    await nextEvent(socket, 'open');
    await both;
    expect(received).toEqual(['a', 'b']);
    expect(connections).toBe(2);
  });

  it('counts sends waiting for a reconnect in bufferedAmount, bounds them with maxQueuedBytes, and sends them all once back', async () => {
    const received: string[] = [];
    let connections = 0;
    let gotAll = () => {};
    const all = new Promise<void>((resolve) => {
      gotAll = resolve;
    });
    const url = await server((socket) => {
      connections++;
      socket.on('message', (data) => {
        received.push(String(data));
        if (received.length === 3) gotAll();
      });
      if (connections === 1) socket.close(1012, 'restart');
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS, restartDelayMs: 50, maxQueuedBytes: 10 });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    await nextEvent(socket, 'close');
    expect(socket.bufferedAmount).toBe(0);
    socket.send('abc');
    // 'é' is two bytes in UTF-8, '€' three: bufferedAmount counts bytes, as a WebSocket's does.
    socket.send('é€');
    expect(socket.bufferedAmount).toBe(8);
    let refused: unknown;
    try {
      socket.send('xyz');
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(QueueFullError);
    expect(refused).toMatchObject({
      code: 'BATON_ERR_QUEUE_FULL',
      message: expect.stringContaining('maxQueuedBytes (10)'),
    });
    expect(socket.bufferedAmount).toBe(8);
    socket.send(new Uint8Array(2));
    expect(socket.bufferedAmount).toBe(10);
    await nextEvent(socket, 'open');
    await all;
    expect(received).toEqual(['abc', 'é€', '\u0000\u0000']);
    expect(socket.bufferedAmount).toBe(0);
    expect(() => new BatonSocket(url, [], { WebSocket: WS, maxQueuedBytes: 0 })).toThrowError(TypeError);
  });

  it('close() is final and idempotent; the close event fires once', async () => {
    const url = await server(() => {});
    const socket = new BatonSocket(url, [], { WebSocket: WS });
    await nextEvent(socket, 'open');
    let closes = 0;
    socket.onclose = () => closes++;
    const closed = nextEvent(socket, 'close');
    socket.close(1000, 'bye');
    socket.close();
    await closed;
    expect(socket.readyState).toBe(BatonSocket.CLOSED);
    expect(closes).toBe(1);
    socket.send('ignored after close');
  });

  it('gives up after maxRetries and closes', async () => {
    const http = createServer();
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as AddressInfo).port;
    await new Promise((resolve) => http.close(resolve));
    const socket = new BatonSocket(`ws://127.0.0.1:${port}`, [], { WebSocket: WS, maxRetries: 2, initialDelayMs: 10 });
    const close = await nextEvent<Event & { code: number }>(socket, 'close');
    expect(close.code).toBe(1006);
    expect(socket.readyState).toBe(BatonSocket.CLOSED);
  });

  it('when the move fails before the deadline, reconnects after the 1012 offering the resume token', async () => {
    const http = createServer();
    let refusing = false;
    const offered: string[] = [];
    const wss = new WebSocketServer({
      server: http,
      handleProtocols: (protocols) => (protocols.has('baton.v1') ? 'baton.v1' : false),
      // While the old connection lives, every new upgrade is refused: the make-before-break cannot happen.
      verifyClient: (_info, done) => (refusing ? done(false, 503) : done(true)),
    });
    let first = true;
    wss.on('connection', (socket, request) => {
      offered.push(String(request.headers['sec-websocket-protocol']));
      if (!first) return;
      first = false;
      refusing = true;
      // A v1 server's first control message is its welcome (docs/protocol.md §2): a hint before it is dropped.
      socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false}`);
      socket.send(
        `${CONTROL_PREFIX}{"t":"reconnect","v":1,"deadline":${Date.now() + 300},"reason":"server draining","token":"tok123"}`,
      );
      setTimeout(() => {
        refusing = false;
        socket.close(1012, 'server draining');
      }, 300);
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanups.push(() => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => http.close(resolve));
    });
    const socket = new BatonSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, [], {
      WebSocket: WS,
      restartDelayMs: 20,
    });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    const close = await nextEvent<Event & { code: number }>(socket, 'close');
    expect(close.code).toBe(1012);
    await nextEvent(socket, 'open');
    expect(offered).toEqual(['baton.v1', 'baton.v1,baton.resume.tok123']);
  });

  it('closing while a move is still connecting ends cleanly (no uncaught error from the abandoned socket)', async () => {
    const http = createServer();
    let first = true;
    const wss = new WebSocketServer({
      server: http,
      handleProtocols: (protocols) => (protocols.has('baton.v1') ? 'baton.v1' : false),
      // The move's connection never gets an answer: it stays CONNECTING.
      verifyClient: (_info, done) => {
        if (first) {
          first = false;
          done(true);
        }
      },
    });
    const hinted = new Promise<void>((resolve) => {
      wss.on('connection', (socket) => {
        socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false}`);
        socket.send(
          `${CONTROL_PREFIX}{"t":"reconnect","v":1,"deadline":${Date.now() + 5_000},"reason":"r","token":"t1"}`,
        );
        resolve();
      });
    });
    const upgradeSockets: import('node:stream').Duplex[] = [];
    http.on('upgrade', (_request, upgradeSocket) => upgradeSockets.push(upgradeSocket));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanups.push(() => {
      for (const client of wss.clients) client.terminate();
      // The never-answered upgrade is not an HTTP connection any more: destroy it by hand.
      for (const upgradeSocket of upgradeSockets) upgradeSocket.destroy();
      return new Promise((resolve) => http.close(resolve));
    });
    const upgrades = once(http, 'upgrade');
    const socket = new BatonSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, [], { WebSocket: WS });
    await nextEvent(socket, 'open');
    await hinted;
    await upgrades;
    // The second upgrade (the move) is now pending on the server.
    await new Promise<void>((resolve) => http.once('upgrade', () => resolve()));
    const closed = nextEvent<Event & { code: number }>(socket, 'close');
    socket.close(1000);
    expect((await closed).code).toBe(1000);
  });

  it('requires a WebSocket implementation when none is global', () => {
    // Node 22 has a global WebSocket (Node 20 only behind a flag): take it away, so this holds on every Node.
    const global = globalThis as { WebSocket?: unknown };
    const saved = Object.getOwnPropertyDescriptor(global, 'WebSocket');
    delete global.WebSocket;
    try {
      expect(global.WebSocket).toBeUndefined();
      expect(() => new BatonSocket('ws://127.0.0.1:1')).toThrowError(
        'No WebSocket implementation: pass options.WebSocket',
      );
    } finally {
      if (saved) Object.defineProperty(global, 'WebSocket', saved);
    }
  });
});

describe('BatonSocket against a hostile or broken server', () => {
  const hint = (token?: string) =>
    `${CONTROL_PREFIX}${JSON.stringify({ t: 'reconnect', v: 1, deadline: Date.now() + 60_000, reason: 'x', ...(token ? { token } : {}) })}`;

  it('a server that hints every connection gets a handful of sockets, not a loop', async () => {
    let connection = 0;
    const url = await server((socket) => {
      const n = ++connection;
      socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false}`);
      socket.send(hint());
      // An app message right behind the hint: once the client delivers it, it has dealt with the hint.
      socket.send(`after the hint on connection ${n}`);
    });
    // Count the sockets the client itself opens.
    let opened = 0;
    class Counting extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        opened++;
      }
    }
    const socket = new BatonSocket(url, [], { WebSocket: Counting, lingerMs: 10 });
    cleanups.push(() => socket.close());
    // Three moves (the cap per 10 s), then the fourth connection's hint is ignored: its message arrives on
    // a socket that stays, and no fifth socket was opened.
    await new Promise<void>((resolve) =>
      socket.addEventListener('message', (event) => {
        if (String((event as MessageEvent).data) === 'after the hint on connection 4') resolve();
      }),
    );
    expect(opened).toBe(4);
    expect(socket.readyState).toBe(BatonSocket.OPEN);
  });

  it('a server that accepts and closes at once meets doubling delays, not a reconnect loop', async () => {
    // Every upgrade accepted, then closed at once (a crash-looping or hostile server): each connection opens,
    // so a back-off reset on open would retry every initialDelayMs forever (19–45 connections in 10 s seen).
    const opens: number[] = [];
    let onSixth: () => void = () => {};
    const url = await server((socket) => {
      opens.push(Date.now());
      socket.close(1011, 'boom');
      if (opens.length === 6) onSixth();
    });
    const sixth = new Promise<void>((resolve) => {
      onSixth = resolve;
    });
    // random() = 1: each delay is the whole cap, 20 ms doubling (timers never fire early: the gaps are floors).
    const socket = new BatonSocket(url, [], { WebSocket: WS, initialDelayMs: 20, maxDelayMs: 10_000, random: () => 1 });
    cleanups.push(() => socket.close());
    await sixth;
    const gaps = opens.slice(1).map((at, i) => at - (opens[i] as number));
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(20 * 2 ** i - 2);
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(310);
  });

  it('the back-off starts over once a connection stayed open healthyAfterMs', async () => {
    // Three connections closed at once, then one the server keeps for 500 ms (well past healthyAfterMs 50),
    // then closed at once again. The url option sees the attempt number of every reconnect.
    let connections = 0;
    const url = await server((socket) => {
      connections++;
      if (connections === 4) setTimeout(() => socket.close(1011, 'after a while'), 500);
      else socket.close(1011, 'boom');
    });
    const attempts: number[] = [];
    let onFifth: () => void = () => {};
    const fifth = new Promise<void>((resolve) => {
      onFifth = resolve;
    });
    const socket = new BatonSocket(url, [], {
      WebSocket: WS,
      initialDelayMs: 10,
      maxDelayMs: 10_000,
      random: () => 1,
      healthyAfterMs: 50,
      url: ({ reason, attempt, current }) => {
        if (reason === 'reconnect') attempts.push(attempt);
        if (attempts.length === 4) onFifth();
        return current;
      },
    });
    cleanups.push(() => socket.close());
    await fifth;
    // The row of failures counts up; the healthy fourth connection ends it.
    expect(attempts).toEqual([1, 2, 3, 1]);
  });

  it("fires 'resumed' only when a token was offered", async () => {
    const url = await server((socket) => {
      socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":true}`);
      socket.send('after the welcome');
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS });
    cleanups.push(() => socket.close());
    let resumed = 0;
    socket.addEventListener('resumed', () => resumed++);
    // Delivered after the welcome was read.
    await nextEvent(socket, 'message');
    expect(resumed).toBe(0);
  });

  it('never offers a token longer than servers accept (4096 characters)', async () => {
    const offered: string[] = [];
    let first = true;
    const url = await server((socket, protocols) => {
      offered.push(protocols);
      if (!first) return;
      first = false;
      socket.send(hint('t'.repeat(5000)));
      socket.close(1012, 'draining');
    });
    const socket = new BatonSocket(url, [], { WebSocket: WS, restartDelayMs: 10, maxMoves: 0 });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    await nextEvent(socket, 'open');
    expect(offered).toEqual(['baton.v1', 'baton.v1']);
  });

  it('keeps its resume token until a welcome answers it: a pod that died mid-drain is retried with it', async () => {
    const offered: string[] = [];
    const http = createServer();
    const wss = new WebSocketServer({ server: http, handleProtocols: () => 'baton.v1' });
    let phase: 'hint' | 'serve' = 'hint';
    wss.on('connection', (socket, request) => {
      offered.push(String(request.headers['sec-websocket-protocol']));
      if (phase === 'hint') {
        socket.send(`${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":false}`);
        socket.send(hint('tok-of-the-dead-pod'));
        // The pod dies (SIGKILL) before the client could move: every connection gone, the port closed.
        phase = 'serve';
        setImmediate(() => {
          for (const client of wss.clients) client.terminate();
          http.close();
        });
      }
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as AddressInfo).port;
    cleanups.push(() => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => (http.listening ? http.close(resolve) : resolve(undefined)));
    });
    const socket = new BatonSocket(`ws://127.0.0.1:${port}`, [], {
      WebSocket: WS,
      initialDelayMs: 20,
      maxDelayMs: 100,
      maxMoves: 0,
    });
    cleanups.push(() => socket.close());
    await nextEvent(socket, 'open');
    await nextEvent(socket, 'close');
    // A few refused reconnects while nothing listens, then the replacement comes up on the same address.
    let failures = 0;
    socket.addEventListener('error', () => failures++);
    while (failures < 2) await new Promise((resolve) => socket.addEventListener('error', resolve, { once: true }));
    http.listen(port, '127.0.0.1');
    await nextEvent(socket, 'open');
    expect(offered).toEqual(['baton.v1', 'baton.v1,baton.resume.tok-of-the-dead-pod']);
  });

  it('passes socketOptions to ws (maxPayload): an oversized message is refused, not delivered', async () => {
    const url = await server((socket) => socket.send('x'.repeat(2048)));
    const limited = new BatonSocket(url, [], { WebSocket: WS, socketOptions: { maxPayload: 1024 }, maxRetries: 0 });
    cleanups.push(() => limited.close());
    let delivered = 0;
    limited.addEventListener('message', () => delivered++);
    const errored = nextEvent(limited, 'error');
    await nextEvent(limited, 'close');
    await errored;
    expect(delivered).toBe(0);
    // The same server, without the limit: delivered.
    const open = new BatonSocket(url, [], { WebSocket: WS });
    cleanups.push(() => open.close());
    const message = await nextEvent<Event & { data: unknown }>(open, 'message');
    expect(String(message.data)).toHaveLength(2048);
  });

  describe('a move that outlives the old connection (its deadline passed first, or its server died)', () => {
    const welcome = (resumed: boolean) => `${CONTROL_PREFIX}{"t":"welcome","v":1,"resumed":${resumed}}`;

    /** A server whose upgrades wait until the test answers them: `answer(true)` accepts, `answer(false)` 503s. */
    async function heldServer(onConnection: (socket: WebSocket, protocols: string) => void) {
      const http = createServer();
      const waiting: ((accept: boolean) => void)[] = [];
      let arrived: () => void = () => {};
      const wss = new WebSocketServer({
        server: http,
        handleProtocols: () => 'baton.v1',
        verifyClient: (_info, done) => {
          waiting.push((accept) => (accept ? done(true) : done(false, 503)));
          arrived();
        },
      });
      wss.on('connection', (socket, request) =>
        onConnection(socket, String(request.headers['sec-websocket-protocol'] ?? '')),
      );
      const pending: import('node:stream').Duplex[] = [];
      http.on('upgrade', (_request, upgradeSocket) => pending.push(upgradeSocket));
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      cleanups.push(() => {
        for (const client of wss.clients) client.terminate();
        for (const upgradeSocket of pending) upgradeSocket.destroy();
        return new Promise((resolve) => http.close(resolve));
      });
      return {
        url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
        /** Resolves once an upgrade waits for an answer. */
        upgradeWaiting: () =>
          waiting.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => (arrived = resolve)),
        answer: (accept: boolean) => waiting.shift()?.(accept),
      };
    }

    /** The old server: a welcome, then a hint with `token` and an app message right behind it. */
    async function hintingServer(token: string) {
      let old: WebSocket | undefined;
      const url = await server((socket) => {
        old = socket;
        socket.send(welcome(false));
        socket.send(hint(token));
        socket.send('behind the hint');
      });
      return {
        url,
        /** The old server closes the hinted connection (its deadline passed) and sees the close handshake end. */
        closeWith1012: async () => {
          const closed = once(old as WebSocket, 'close');
          old?.close(1012, 'server draining');
          await closed;
        },
      };
    }

    it('the app sees no close: the move completes after the 1012 and its sends go to the new server', async () => {
      let receivedByB: (data: string) => void = () => {};
      const firstOnB = new Promise<string>((resolve) => (receivedByB = resolve));
      const offered: string[] = [];
      const b = await heldServer((socket, protocols) => {
        offered.push(protocols);
        socket.once('message', (data) => receivedByB(String(data)));
        socket.send(welcome(true));
        socket.send('from b');
      });
      const a = await hintingServer('tok-slow');
      const socket = new BatonSocket(a.url, [], {
        WebSocket: WS,
        url: ({ reason, current }) => (reason === 'connect' ? current : b.url),
      });
      cleanups.push(() => socket.close());
      const closes: number[] = [];
      socket.addEventListener('close', (event) => closes.push(event.code));
      // The app sends while the move is under way: held, then sent on the new connection.
      socket.addEventListener('message', (event) => {
        if (event.data === 'behind the hint') socket.send('sent during the move');
      });
      await b.upgradeWaiting();
      await a.closeWith1012();
      expect(socket.readyState).toBe(BatonSocket.OPEN);
      const migrated = nextEvent<Event & { resumed: boolean }>(socket, 'migrated');
      const fromB = nextEvent<MessageEvent>(socket, 'message');
      b.answer(true);
      expect((await migrated).resumed).toBe(true);
      expect((await fromB).data).toBe('from b');
      expect(offered).toEqual(['baton.v1,baton.resume.tok-slow']);
      expect(await firstOnB).toBe('sent during the move');
      expect(closes).toEqual([]);
      expect(socket.currentUrl).toBe(b.url);
    });

    it('when that move then fails, the app sees the old close once and the reconnect offers the token', async () => {
      const offered: string[] = [];
      const b = await heldServer((socket, protocols) => {
        offered.push(protocols);
        socket.send(welcome(true));
      });
      const a = await hintingServer('tok-failed-move');
      const socket = new BatonSocket(a.url, [], {
        WebSocket: WS,
        restartDelayMs: 10,
        url: ({ reason, current }) => (reason === 'connect' ? current : b.url),
      });
      cleanups.push(() => socket.close());
      const closes: number[] = [];
      socket.addEventListener('close', (event) => closes.push(event.code));
      await b.upgradeWaiting();
      await a.closeWith1012();
      const closed = nextEvent(socket, 'close');
      b.answer(false);
      await closed;
      expect(socket.readyState).toBe(BatonSocket.CONNECTING);
      await b.upgradeWaiting();
      const resumed = nextEvent(socket, 'resumed');
      b.answer(true);
      await resumed;
      expect(closes).toEqual([1012]);
      expect(offered).toEqual(['baton.v1,baton.resume.tok-failed-move']);
    });

    it('a move with no answer at all is given up after moveGraceMs: close, then a reconnect elsewhere', async () => {
      const b = await heldServer(() => {});
      const elsewhere = await server((socket) => socket.send(welcome(true)));
      const a = await hintingServer('tok-unanswered');
      const socket = new BatonSocket(a.url, [], {
        WebSocket: WS,
        restartDelayMs: 10,
        moveGraceMs: 50,
        url: ({ reason, current }) => (reason === 'connect' ? current : reason === 'move' ? b.url : elsewhere),
      });
      cleanups.push(() => socket.close());
      await b.upgradeWaiting();
      const closed = nextEvent<Event & { code: number }>(socket, 'close');
      await a.closeWith1012();
      // b never answers: only moveGraceMs ends the wait.
      expect((await closed).code).toBe(1012);
      await nextEvent(socket, 'resumed');
      expect(socket.currentUrl).toBe(elsewhere);
    });

    it("close() by the app while such a move waits is final: one close with the app's code", async () => {
      const b = await heldServer(() => {});
      const a = await hintingServer('tok-app-close');
      const socket = new BatonSocket(a.url, [], {
        WebSocket: WS,
        url: ({ reason, current }) => (reason === 'connect' ? current : b.url),
      });
      const closes: number[] = [];
      socket.addEventListener('close', (event) => closes.push(event.code));
      await b.upgradeWaiting();
      await a.closeWith1012();
      socket.close(1000);
      expect(socket.readyState).toBe(BatonSocket.CLOSED);
      expect(closes).toEqual([1000]);
    });

    it('refuses a moveGraceMs that is not a finite number ≥ 0, with a TypeError', () => {
      for (const moveGraceMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5000' as unknown as number]) {
        expect(() => new BatonSocket('ws://127.0.0.1:1', [], { WebSocket: WS, moveGraceMs })).toThrow(/moveGraceMs/);
      }
    });

    it('refuses a healthyAfterMs that is not a finite number ≥ 0, with a TypeError', () => {
      for (const healthyAfterMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5000' as unknown as number]) {
        expect(() => new BatonSocket('ws://127.0.0.1:1', [], { WebSocket: WS, healthyAfterMs })).toThrow(
          /healthyAfterMs/,
        );
      }
    });
  });

  it('pause() from the start holds once open (ws ignores it while connecting); resume() delivers every message in order', async () => {
    // The server runs in its own process, so this one's event loop is free to read while the server sends:
    // the server's buffer grows past 4 MiB (it logs "blocked") only if this client does not read.
    const count = 400;
    const serverScript = `
      const { WebSocketServer } = require('ws');
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log('port ' + wss.address().port));
      wss.on('connection', async (socket) => {
        let said = false;
        for (let i = 0; i < ${count}; i++) {
          const written = new Promise((resolve) => socket.send(i + ':' + 'x'.repeat(64 * 1024), resolve));
          if (socket.bufferedAmount > 4 * 1024 * 1024) {
            if (!said) console.log('blocked');
            said = true;
            await written;
          }
        }
      });`;
    const child = spawn(process.execPath, ['-e', serverScript], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const nextLine = () => once(lines, 'line').then(([line]) => String(line));
    const port = Number((await nextLine()).split(' ')[1]);
    const socket = new BatonSocket(`ws://127.0.0.1:${port}`, [], { WebSocket: WS });
    cleanups.push(() => socket.close());
    socket.pause();
    expect(socket.isPaused).toBe(true);
    const received: number[] = [];
    const all = new Promise<void>((resolve) =>
      socket.addEventListener('message', (event) => {
        received.push(Number.parseInt(String(event.data), 10));
        if (received.length === count) resolve();
      }),
    );
    expect(await nextLine()).toBe('blocked');
    expect(received).toEqual([]);
    socket.resume();
    expect(socket.isPaused).toBe(false);
    await all;
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i));
  });
});
