// The relay as its own process (baton-relay, built), in front of upstream ws servers of the test's: frames,
// headers, subprotocols, refusals, crashes, backpressure, and the relay's own drain. Real sockets throughout.

import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { CONTROL_PREFIX } from '../../drain-core/src/index.js';
import { type GatewayProcess, startGateway } from '../../lab/src/harness/index.js';
import { Relay } from '../src/index.js';

const cleanups = useCleanups();
const relayCli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Upstream {
  url: string;
  wss: WebSocketServer;
  requests: IncomingMessage[];
  connections: WebSocket[];
  nextConnection(): Promise<WebSocket>;
  close(): Promise<void>;
}

async function upstreamServer(options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<Upstream> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, ...options });
  const requests: IncomingMessage[] = [];
  const connections: WebSocket[] = [];
  wss.on('connection', (socket, request) => {
    requests.push(request);
    connections.push(socket);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const close = async () => {
    for (const client of wss.clients) client.terminate();
    if (http.listening) await new Promise((resolve) => http.close(resolve));
  };
  cleanups.push(close);
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    wss,
    requests,
    connections,
    nextConnection: async () => (await once(wss, 'connection'))[0] as WebSocket,
    close,
  };
}

async function startRelay(upstream: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const relay = await startGateway(relayCli, {
    BATON_RELAY_UPSTREAM: upstream,
    BATON_GRACE_PERIOD_SECONDS: '4',
    BATON_PROPAGATION_SECONDS: '0.2',
    BATON_CLOSE_TIMEOUT_SECONDS: '0.5',
    BATON_SAFETY_MARGIN_SECONDS: '0.2',
    ...env,
  });
  cleanups.push(() => relay.stop());
  return relay;
}

async function connect(url: string, protocols: string[] = [], headers: Record<string, string> = {}) {
  const client = new WebSocket(url, protocols, { headers });
  cleanups.push(() => client.terminate());
  await once(client, 'open');
  return client;
}

function closeOf(client: WebSocket): Promise<{ code: number; reason: string }> {
  return once(client, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
}

describe('baton-relay (process)', () => {
  it('refuses BATON_REBALANCE_SECONDS at start-up (exit 2, coded): its clients could move only by being disconnected', () => {
    const run = spawnSync(process.execPath, [relayCli], {
      env: {
        ...process.env,
        BATON_RELAY_UPSTREAM: 'ws://127.0.0.1:1',
        BATON_REBALANCE_SECONDS: '20',
        BATON_REBALANCE_PEERS: 'dns:relay-peers:9091',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    const line = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((text) => JSON.parse(text) as { code?: string; err?: string })
      .find((entry) => entry.code !== undefined);
    expect(line?.code).toBe('BATON_ERR_RELAY_INVALID_OPTION');
    expect(line?.err).toMatch(/Set it on the gateways behind the relay/);
  });

  it('forwards every kind of message byte for byte, both ways, and answers pings itself', async () => {
    const upstream = await upstreamServer();
    upstream.wss.on('connection', (socket) =>
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })),
    );
    const relay = await startRelay(upstream.url);
    const client = await connect(relay.url);
    const payloads: [Buffer | string, boolean][] = [
      ['plain text', false],
      ['UTF-8: żółć 🚀 日本', false],
      ['', false],
      [Buffer.from([0, 1, 2, 255, 254, 0x80]), true],
      [Buffer.alloc(0), true],
      [Buffer.alloc(300 * 1024, 7), true],
      ['x'.repeat(200 * 1024), false],
    ];
    const echoes: [Buffer, boolean][] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer, isBinary) => {
        echoes.push([data, isBinary]);
        if (echoes.length === payloads.length) resolve();
      }),
    );
    for (const [payload, binary] of payloads) client.send(payload, { binary });
    await all;
    for (const [i, [payload, binary]] of payloads.entries()) {
      const [echo, isBinary] = echoes[i] as [Buffer, boolean];
      expect(isBinary).toBe(binary);
      expect(echo.equals(Buffer.from(payload))).toBe(true);
    }
    // A ping from the client is answered by the relay (the upstream sees no ping).
    let upstreamPings = 0;
    (upstream.connections[0] as WebSocket).on('ping', () => upstreamPings++);
    const pong = once(client, 'pong');
    client.ping('are you there');
    expect(String((await pong)[0])).toBe('are you there');
    expect(upstreamPings).toBe(0);
  });

  it('passes path, query, the allowed headers, X-Forwarded-For and the subprotocol the gateway chose', async () => {
    const upstream = await upstreamServer({
      handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
    });
    const relay = await startRelay(`${upstream.url}/base`);
    const client = await connect(`${relay.url}/rooms/7?user=ada`, ['chat.v2', 'chat.v1'], {
      Cookie: 'session=abc',
      Authorization: 'Bearer t0k3n',
      'X-Not-Forwarded': 'secret',
    });
    expect(client.protocol).toBe('chat.v1');
    const request = upstream.requests[0] as IncomingMessage;
    expect(request.url).toBe('/base/rooms/7?user=ada');
    expect(request.headers.cookie).toBe('session=abc');
    expect(request.headers.authorization).toBe('Bearer t0k3n');
    expect(request.headers['x-not-forwarded']).toBeUndefined();
    expect(request.headers['x-forwarded-for']).toBe('127.0.0.1');
    // The client's offer, then the relay's own Baton protocol (for the gateway's hints).
    expect(request.headers['sec-websocket-protocol']).toBe('chat.v2,chat.v1,baton.v1');
  });

  it("X-Forwarded-For: appended to the client's own by default; replaced by the client's address as the first hop", async () => {
    const upstream = await upstreamServer();
    const appending = await startRelay(upstream.url);
    await connect(appending.url, [], { 'X-Forwarded-For': '6.6.6.6' });
    expect((upstream.requests.at(-1) as IncomingMessage).headers['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
    const firstHop = await startRelay(upstream.url, { BATON_RELAY_FORWARDED_FOR: 'replace' });
    // A client's own header is only its claim: the gateway sees the address the relay saw.
    await connect(firstHop.url, [], { 'X-Forwarded-For': '6.6.6.6' });
    expect((upstream.requests.at(-1) as IncomingMessage).headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(() => new Relay({ upstream: upstream.url, forwardedFor: 'drop' as 'replace' })).toThrowError(
      expect.objectContaining({
        code: 'BATON_ERR_RELAY_INVALID_OPTION',
        message: expect.stringContaining('forwardedFor'),
      }),
    );
  });

  it('never logs the credentials an upstream URL carries (user, password, query)', async () => {
    const upstream = await upstreamServer();
    const port = new URL(upstream.url).port;
    const relay = await startRelay(`ws://relay-user:s3cr3t-pass@127.0.0.1:${port}/base?token=abc123xyz`);
    const listening = relay.lines.find((line) => line.msg === 'listening');
    expect(listening?.upstream).toBe(`ws://***:***@127.0.0.1:${port}/base?***`);
    expect(JSON.stringify(relay.lines)).not.toMatch(/s3cr3t-pass|abc123xyz|relay-user/);
    // Nor does the refusal of a URL it cannot use.
    expect(() => new Relay({ upstream: 'http://user:pw-0123@example.test/?key=k-0123' })).toThrowError(
      expect.objectContaining({ message: expect.not.stringMatching(/pw-0123|k-0123/) }),
    );
  });

  it('answers 502 when the gateway refuses or cannot be reached, with a coded body', async () => {
    const upstream = await upstreamServer({ verifyClient: (_info, done) => done(false, 503) });
    const relay = await startRelay(upstream.url);
    {
      const client = new WebSocket(relay.url);
      // Refused: no connection to terminate, and terminate() on it then reports an error.
      client.on('error', () => {});
      cleanups.push(() => client.terminate());
      const [, response] = (await once(client, 'unexpected-response')) as [unknown, IncomingMessage];
      expect(response.statusCode).toBe(502);
      let body = '';
      for await (const chunk of response) body += chunk;
      expect(JSON.parse(body).error.code).toBe('BATON_ERR_RELAY_UPSTREAM_REFUSED');
    }
    await upstream.close();
    const client = new WebSocket(relay.url);
    client.on('error', () => {});
    cleanups.push(() => client.terminate());
    const [, response] = (await once(client, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(502);
  });

  it("closes the client with 1011 when the gateway vanishes, and with the gateway's 1012 when it closes so", async () => {
    const upstream = await upstreamServer();
    const relay = await startRelay(upstream.url);
    const crashed = await connect(relay.url);
    const first = upstream.connections[0] as WebSocket;
    const crashedClose = closeOf(crashed);
    first.terminate(); // no close frame: a crash
    expect((await crashedClose).code).toBe(1011);
    const restarted = await connect(relay.url);
    const second = upstream.connections[1] as WebSocket;
    const restartedClose = closeOf(restarted);
    second.close(1012, 'server draining');
    expect(await restartedClose).toEqual({ code: 1012, reason: 'server draining' });
    // And a client's close reaches the gateway with its code.
    const leaving = await connect(relay.url);
    const third = upstream.connections[2] as WebSocket;
    const upstreamClose = once(third, 'close');
    leaving.close(4001, 'bye');
    expect(Number((await upstreamClose)[0])).toBe(4001);
  });

  it('a client that reads slower than its gateway sends pauses the upstream: nothing lost, nothing closed', async () => {
    const upstream = await upstreamServer();
    const relay = await startRelay(upstream.url);
    const client = await connect(relay.url);
    const socket = upstream.connections[0] as WebSocket;
    // The client stops reading. The gateway sends up to 64 MiB: once loopback's socket buffers are full the
    // relay's buffer towards the client passes half its bound (1 MiB) and the relay stops reading the gateway,
    // so the gateway's own buffer grows — the backpressure it would see from a slow direct client.
    client.pause();
    const count = 4096;
    const sequence: number[] = [];
    let intact = true;
    const all = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        const n = data.readUInt32BE(0);
        sequence.push(n);
        intact &&= data.length === 16 * 1024 && data[100] === n % 251;
        if (sequence.length === count) resolve();
      }),
    );
    let blocked: () => void = () => {};
    const gatewayBlocked = new Promise<void>((resolve) => (blocked = resolve));
    const sent = (async () => {
      for (let i = 0; i < count; i++) {
        const chunk = Buffer.alloc(16 * 1024, i % 251);
        chunk.writeUInt32BE(i, 0);
        const written = new Promise((resolve) => socket.send(chunk, resolve));
        if (socket.bufferedAmount > 4 * 1024 * 1024) {
          blocked();
          await written; // written once the relay reads again
        }
      }
    })();
    // Were the client closed instead (no pause), fail now rather than wait for the test's timeout.
    const closed = once(client, 'close').then(([code]) => {
      throw new Error(`the relay closed the client (${code}) instead of pausing its upstream`);
    });
    // (Handled here too: the clean-up's own close after the test must not count as an unhandled rejection.)
    closed.catch(() => {});
    await Promise.race([gatewayBlocked, closed]);
    const paused = await (await fetch(`${relay.adminUrl}/metrics`)).text();
    expect(paused).toMatch(/baton_relay_upstream_pauses_total [1-9]/);
    client.resume();
    await Promise.race([Promise.all([sent, all]), closed]);
    expect(sequence).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(intact).toBe(true);
    expect(client.readyState).toBe(WebSocket.OPEN);
    const metrics = await (await fetch(`${relay.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/baton_relay_refused_total\{reason="client_too_slow"\} 0/);
  });

  it('closes a client whose buffer passes the bound even so (1008), and closes its upstream', async () => {
    const upstream = await upstreamServer();
    const relay = await startRelay(upstream.url, { BATON_RELAY_MAX_BUFFERED_BYTES: String(256 * 1024) });
    const client = await connect(relay.url);
    const socket = upstream.connections[0] as WebSocket;
    const upstreamClosed = once(socket, 'close');
    const clientClosed = closeOf(client);
    // The client stops reading: TCP fills, then one message larger than the bound lands in the relay's buffer.
    client.pause();
    const chunk = Buffer.alloc(900 * 1024, 1);
    const flood = async () => {
      // Bounded: at most 72 messages (63 MiB), each written before the next, stopping once the relay gives up.
      for (let i = 0; i < 72 && socket.readyState === WebSocket.OPEN; i++) {
        await new Promise((resolve) => socket.send(chunk, resolve));
      }
    };
    void flood();
    await upstreamClosed;
    client.resume();
    const { code, reason } = await clientClosed;
    expect(code).toBe(1008);
    expect(reason).toContain('BATON_ERR_RELAY_CLIENT_TOO_SLOW');
    const metrics = await (await fetch(`${relay.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/baton_relay_refused_total\{reason="client_too_slow"\} 1/);
  });

  it("a client sending while its upstream moves is held at the bound: the relay's peak memory stays flat, nothing is lost", async () => {
    // One upstream port, as behind a Service: the first connection is the old pod; the move's connection (the
    // same URL) is the new pod, whose upgrade the test holds until the client has sent what it could.
    const controlKey = 'k0123456789abcdefghijk';
    let releaseMove: () => void = () => {};
    const moveHeld = new Promise<void>((resolve) => {
      releaseMove = resolve;
    });
    let moveStarted: () => void = () => {};
    const moving = new Promise<void>((resolve) => {
      moveStarted = resolve;
    });
    let upgrades = 0;
    const upstream = await upstreamServer({
      verifyClient: (_info: unknown, done: (ok: boolean) => void) => {
        if (++upgrades === 1) return done(true);
        moveStarted();
        void moveHeld.then(() => done(true));
      },
    });
    const control = (message: object) => `${CONTROL_PREFIX}${JSON.stringify({ v: 1, k: controlKey, ...message })}`;
    upstream.wss.on('connection', (socket) => socket.send(control({ t: 'welcome', resumed: false })));
    const relay = await startRelay(upstream.url);
    const peakRss = async () => {
      const status = await readFile(`/proc/${relay.child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    };
    const client = await connect(relay.url);
    const oldPod = await (upstream.connections[0]
      ? Promise.resolve(upstream.connections[0])
      : upstream.nextConnection());
    const before = await peakRss();

    // 256 MiB in 512 KiB messages, sent as a careful sender does (waiting whenever 4 MiB are unsent).
    const total = 512;
    const size = 512 * 1024;
    let received = 0;
    let intact = true;
    const newPodGotAll = new Promise<void>((resolve) => {
      upstream.wss.on('connection', (socket) => {
        if (socket === oldPod) return;
        socket.on('message', (data: Buffer) => {
          intact &&= data.length === size && data.readUInt32BE(0) === received;
          if (++received === total) resolve();
        });
      });
    });
    oldPod.send(control({ t: 'reconnect', deadline: Date.now() + 60_000, reason: 'draining' }));
    await moving;
    const sent = (async () => {
      for (let i = 0; i < total; i++) {
        const chunk = Buffer.alloc(size, i % 251);
        chunk.writeUInt32BE(i, 0);
        const written = new Promise((resolve) => client.send(chunk, resolve));
        if (client.bufferedAmount > 4 * 1024 * 1024) await written;
      }
    })();
    // The move ends once the client has sent everything (a relay that buffers it all) or the relay holds it.
    let settled = false;
    const held = (async () => {
      while (!settled) {
        const metrics = await (await fetch(`${relay.adminUrl}/metrics`)).text();
        if (/baton_relay_client_pauses_total [1-9]/.test(metrics)) return;
      }
    })();
    await Promise.race([sent, held]);
    settled = true;
    await held;
    releaseMove();
    await Promise.all([sent, newPodGotAll]);
    expect(intact).toBe(true);
    const growth = (await peakRss()) - before;
    // Buffering the move would take all 256 MiB; held at the 1 MiB bound it is the working set plus what the
    // garbage collector has not yet returned (V8 collects external memory every 64 MiB or so).
    expect(growth).toBeLessThan(128 * 1024 * 1024);
    expect(client.readyState).toBe(WebSocket.OPEN);
    const metrics = await (await fetch(`${relay.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/baton_relay_moves_total 1/);
  });

  it('its own release: SIGTERM closes every client once with 1012 and the relay exits 0', async () => {
    const upstream = await upstreamServer();
    const relay = await startRelay(upstream.url);
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(relay.url)));
    const closes = clients.map(closeOf);
    relay.terminate();
    const codes = (await Promise.all(closes)).map((close) => close.code);
    expect(codes).toEqual(Array(20).fill(1012));
    expect((await relay.exited).code).toBe(0);
  });
});
