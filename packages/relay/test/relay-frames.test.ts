// The relay forwards frames as bytes: what it must still get right at the frame level — fragmented messages
// (with pings between the fragments), frames split at every byte, control messages consumed however they are
// fragmented, protocol violations from either side, no permessage-deflate, close codes both ways, and ids read
// only in a move's overlap. Real sockets throughout: ws peers where ws can say it, a raw TCP peer where a frame
// must be written byte by byte.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { CONTROL_PREFIX } from '../../drain-core/src/index.js';
import { Relay, type RelayOptions } from '../src/index.js';

const cleanups = useCleanups();
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = 'k0123456789abcdefghijk';
const control = (message: object) => `${CONTROL_PREFIX}${JSON.stringify({ v: 1, k: KEY, ...message })}`;

async function listen(server: ReturnType<typeof createServer> | ReturnType<typeof createTcpServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

/** A ws gateway; every connection gets Baton's welcome first, as drain-core sends it. */
async function wsGateway(options: ConstructorParameters<typeof WebSocketServer>[0] = {}) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, ...options });
  const connections: WebSocket[] = [];
  wss.on('connection', (socket) => {
    connections.push(socket);
    socket.send(control({ t: 'welcome', resumed: false }));
  });
  const port = await listen(http);
  cleanups.push(() => {
    for (const socket of wss.clients) socket.terminate();
  });
  return { url: `ws://127.0.0.1:${port}`, wss, connections };
}

/**
 * A gateway that answers the upgrade by hand and then writes `frames` (server frames, unmasked) one byte per
 * write; it records what the relay sends it.
 */
async function rawGateway(frames: Buffer[], extraResponseHeaders = '', { bytewise = true } = {}) {
  const received: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createTcpServer((socket) => {
    sockets.push(socket);
    socket.setNoDelay(true);
    let head = '';
    const onHead = async (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onHead);
      socket.on('data', (data: Buffer) => received.push(data));
      const key = /sec-websocket-key: (.+)\r\n/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const response = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: baton.v1\r\n${extraResponseHeaders}\r\n`;
      // In one write: the answer and the first frames reach the relay in one read.
      if (!bytewise) return socket.write(Buffer.concat([Buffer.from(response, 'latin1'), ...frames]));
      socket.write(response);
      for (const byte of Buffer.concat(frames)) {
        await new Promise((resolve) => socket.write(Buffer.of(byte), resolve));
      }
    };
    socket.on('data', onHead);
    socket.on('error', () => {});
  });
  const port = await listen(server);
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
  });
  return { url: `ws://127.0.0.1:${port}`, received };
}

/** A server frame (unmasked): fin, opcode, payload. */
function serverFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const data = Buffer.from(payload);
  if (data.length > 125) throw new Error('test frames are short');
  return Buffer.concat([Buffer.of((fin ? 0x80 : 0) | opcode, data.length), data]);
}

/** A client frame, masked with a fixed key; `rsv` sets the RSV bits, `masked` false leaves it unmasked. */
function clientFrame(opcode: number, payload: Buffer | string, { fin = true, rsv = 0, masked = true } = {}): Buffer {
  const data = Buffer.from(payload);
  if (data.length > 125) throw new Error('test frames are short');
  const mask = Buffer.of(1, 2, 3, 4);
  const body = masked ? Buffer.from(data.map((byte, i) => byte ^ (mask[i % 4] as number))) : data;
  return Buffer.concat([
    Buffer.of((fin ? 0x80 : 0) | (rsv << 4) | opcode, (masked ? 0x80 : 0) | data.length),
    masked ? mask : Buffer.alloc(0),
    body,
  ]);
}

async function startRelay(upstream: string, options: Partial<RelayOptions> = {}) {
  const relay = new Relay({ upstream, ...options });
  const http = createServer();
  http.on('upgrade', (request: IncomingMessage, socket, head) => relay.handleUpgrade(request, socket, head));
  const port = await listen(http);
  cleanups.push(() => relay.close());
  return { relay, url: `ws://127.0.0.1:${port}` };
}

async function connectClient(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  const client = new WebSocket(url, [], options);
  cleanups.push(() => client.terminate());
  await once(client, 'open');
  return client;
}

/** A client speaking TCP by hand: its upgrade, then whatever bytes the test writes. */
async function rawClient(url: string) {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  cleanups.push(() => socket.destroy());
  socket.setNoDelay(true);
  await once(socket, 'connect');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\n\r\n`,
  );
  let buffered = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
  });
  while (!buffered.includes('\r\n\r\n')) await once(socket, 'data');
  expect(buffered.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  const headEnd = buffered.indexOf('\r\n\r\n') + 4;
  return {
    socket,
    /** Bytes the relay sent after its 101. */
    received: () => buffered.subarray(headEnd),
    async writeBytewise(bytes: Buffer) {
      for (const byte of bytes) await new Promise((resolve) => socket.write(Buffer.of(byte), resolve));
    },
  };
}

/** The server frames in `bytes` as [opcode, payload] (what a raw client read from the relay). */
function serverFrames(bytes: Buffer): [number, Buffer][] {
  const frames: [number, Buffer][] = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const length = (bytes[offset + 1] as number) & 0x7f;
    frames.push([(bytes[offset] as number) & 0x0f, bytes.subarray(offset + 2, offset + 2 + length)]);
    offset += 2 + length;
  }
  return frames;
}

describe('relay frames', () => {
  it('carries fragmented messages both ways, whole and in order, with pings between the fragments', async () => {
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url);
    const client = await connectClient(url);
    const socket = gateway.connections[0] as WebSocket;

    const atGateway = once(socket, 'message');
    client.send('frag', { fin: false });
    client.ping('between');
    client.send('mented ', { fin: false });
    client.send('text ✓', { fin: true });
    const [text, isBinary] = (await atGateway) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(text.toString()).toBe('fragmented text ✓');

    const atClient: [Buffer, boolean][] = [];
    const both = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer, binary: boolean) => {
        atClient.push([data, binary]);
        if (atClient.length === 2) resolve();
      }),
    );
    socket.send(Buffer.from([1, 2]), { binary: true, fin: false });
    socket.ping('in the middle');
    socket.send(Buffer.from([3]), { binary: true, fin: true });
    socket.send('after');
    await both;
    expect(atClient.map(([data, binary]) => [[...data], binary])).toEqual([
      [[1, 2, 3], true],
      [[...Buffer.from('after')], false],
    ]);
  });

  it('finds frame boundaries whatever the reads: every byte written on its own, from a client and from a gateway', async () => {
    const gateway = await rawGateway([
      serverFrame(1, control({ t: 'welcome', resumed: false })),
      serverFrame(1, 'one'),
      serverFrame(2, Buffer.from([9, 8, 7])),
      serverFrame(9, 'ping from the gateway'),
      serverFrame(1, 'tw', false),
      serverFrame(0, 'o'),
    ]);
    const { url } = await startRelay(gateway.url);
    const client = await rawClient(url);
    await client.writeBytewise(Buffer.concat([clientFrame(1, 'hello'), clientFrame(2, Buffer.from([5, 6]))]));
    // The relay answers the gateway's ping itself: a masked pong (opcode 10) reaches the gateway, not the client.
    const expected = [
      [1, 'one'],
      [2, '\u0009\u0008\u0007'],
      [1, 'tw'],
      [0, 'o'],
    ];
    while (serverFrames(client.received()).length < expected.length) await once(client.socket, 'data');
    expect(serverFrames(client.received()).map(([opcode, payload]) => [opcode, payload.toString('latin1')])).toEqual(
      expected,
    );
    // What the gateway got: the client's two frames exactly as the client masked them, and a pong.
    const atGateway = () => Buffer.concat(gateway.received);
    const clientBytes = Buffer.concat([clientFrame(1, 'hello'), clientFrame(2, Buffer.from([5, 6]))]);
    while (atGateway().length < clientBytes.length + 6 + 21) await new Promise((resolve) => setImmediate(resolve));
    expect(atGateway().includes(clientBytes)).toBe(true);
    const pongAt = atGateway().indexOf(Buffer.of(0x8a, 0x80 | 21));
    expect(pongAt).toBeGreaterThanOrEqual(0);
  });

  it("consumes the gateway's control messages, a fragmented one whose first fragment is shorter than the prefix too", async () => {
    const gateway = await rawGateway([
      serverFrame(1, control({ t: 'welcome', resumed: false })),
      serverFrame(1, '\u0000ba', false),
      serverFrame(0, `ton:${JSON.stringify({ t: 'checkpoint', v: 1, k: KEY, token: 'abc' })}`),
      serverFrame(1, 'app'),
    ]);
    const { url } = await startRelay(gateway.url);
    const client = new WebSocket(url);
    cleanups.push(() => client.terminate());
    // Listening before the open: the message may come in the same read as the handshake's answer.
    const [first] = (await once(client, 'message')) as [Buffer];
    expect(first.toString()).toBe('app');
  });

  it("delivers what the gateway sent in the same read as its handshake's answer", async () => {
    const gateway = await rawGateway(
      [serverFrame(1, control({ t: 'welcome', resumed: false })), serverFrame(1, 'greeting'), serverFrame(2, 'x')],
      '',
      { bytewise: false },
    );
    const { url } = await startRelay(gateway.url);
    const client = new WebSocket(url);
    cleanups.push(() => client.terminate());
    const got: string[] = [];
    await new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push(data.toString());
        if (got.length === 2) resolve();
      }),
    );
    expect(got).toEqual(['greeting', 'x']);
  });

  it('closes a client that breaks the protocol with 1002 (unmasked frame, RSV bit) or 1009 (past maxPayload), and its upstream', async () => {
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url, { maxPayload: 100 });
    const cases: [Buffer, number][] = [
      [clientFrame(1, 'not masked', { masked: false }), 1002],
      [clientFrame(1, 'rsv1', { rsv: 4 }), 1002],
      [clientFrame(2, Buffer.alloc(101)), 1009],
      [clientFrame(3, 'reserved opcode'), 1002],
      [clientFrame(9, 'fragmented ping', { fin: false }), 1002],
    ];
    for (const [frame, code] of cases) {
      const before = gateway.connections.length;
      const client = await rawClient(url);
      const upstream = gateway.connections[before] as WebSocket;
      const upstreamClosed = once(upstream, 'close');
      client.socket.write(frame);
      await once(client.socket, 'close');
      const closeFrame = serverFrames(client.received()).find(([opcode]) => opcode === 8);
      expect(closeFrame?.[1].readUInt16BE(0)).toBe(code);
      await upstreamClosed;
    }
  });

  it('a gateway that breaks the protocol (a masked frame) is closed with 1002, and so is its client', async () => {
    const masked = Buffer.concat([Buffer.of(0x81, 0x80 | 2), Buffer.of(1, 2, 3, 4), Buffer.of(0x61 ^ 1, 0x62 ^ 2)]);
    const gateway = await rawGateway([serverFrame(1, control({ t: 'welcome', resumed: false })), masked]);
    const { url } = await startRelay(gateway.url);
    const client = await connectClient(url);
    const [code] = (await once(client, 'close')) as [number];
    expect(code).toBe(1002);
  });

  it('negotiates no permessage-deflate with a client, and refuses a gateway that answers with an extension (502)', async () => {
    const gateway = await wsGateway({ perMessageDeflate: true });
    const { url } = await startRelay(gateway.url);
    const client = await connectClient(url, { perMessageDeflate: true });
    expect(client.extensions).toBe('');
    expect(gateway.connections[0]?.extensions ?? '').toBe('');
    const pushy = await rawGateway([], 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    const relay = await startRelay(pushy.url);
    const refused = new WebSocket(relay.url);
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(502);
    response.destroy();
  });

  it('forwards close codes and reasons both ways', async () => {
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url);
    const client = await connectClient(url);
    const socket = gateway.connections[0] as WebSocket;
    const atGateway = once(socket, 'close');
    client.close(4001, 'client says bye');
    const [code, reason] = (await atGateway) as [number, Buffer];
    expect([code, reason.toString()]).toEqual([4001, 'client says bye']);

    const second = await connectClient(url);
    const socket2 = gateway.connections[1] as WebSocket;
    const atClient = once(second, 'close');
    socket2.close(4002, 'gateway says bye');
    const [code2, reason2] = (await atClient) as [number, Buffer];
    expect([code2, reason2.toString()]).toEqual([4002, 'gateway says bye']);
  });

  it("sends the upstream URL's credentials as Basic authorization, unless the client forwarded its own", async () => {
    const requests: IncomingMessage[] = [];
    const gateway = await wsGateway();
    gateway.wss.on('connection', (_socket, request) => requests.push(request));
    const withCredentials = gateway.url.replace('ws://', 'ws://user:pa%20ss@');
    const { url } = await startRelay(withCredentials);
    await connectClient(url);
    await connectClient(url, { headers: { authorization: 'Bearer the-clients' } });
    expect(requests.map((request) => request.headers.authorization)).toEqual([
      `Basic ${Buffer.from('user:pa ss').toString('base64')}`,
      'Bearer the-clients',
    ]);
    expect(requests[1]?.rawHeaders.filter((name) => name.toLowerCase() === 'authorization')).toHaveLength(1);
  });

  it("drops the new gateway's re-sent messages at its own pace, however long after the switch it catches up", async () => {
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url, { idField: 'id' });
    const client = new WebSocket(url);
    cleanups.push(() => client.terminate());
    const got: number[] = [];
    const four = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push((JSON.parse(data.toString()) as { id: number }).id);
        if (got.includes(4)) resolve();
      }),
    );
    await once(client, 'open');
    const old = gateway.connections[0] as WebSocket;
    // The hint, then ticks 1-3 from the old pod (sent after the state the new pod resumes from).
    const moving = once(gateway.wss, 'connection');
    old.send(control({ t: 'reconnect', deadline: Date.now() + 30_000, reason: 'draining' }));
    for (const id of [1, 2, 3]) old.send(JSON.stringify({ id }));
    const [fresh] = (await moving) as [WebSocket];
    // The new pod ticks at its own pace from the resumed state: 1, 2, 3 again, then 4 — the last duplicates
    // well after the old connection's linger (1 s) has ended.
    let next = 1;
    const tick = setInterval(() => {
      if (fresh.readyState === WebSocket.OPEN) fresh.send(JSON.stringify({ id: next++ }));
      if (next > 4) clearInterval(tick);
    }, 600);
    cleanups.push(() => clearInterval(tick));
    await four;
    expect(got).toEqual([1, 2, 3, 4]);
  });

  it('drops an id the old gateway sent first even after the new one was ahead once and the old link is gone', async () => {
    // Two gateways tick at their own pace: the new one may send an id before the old one, and the old one may be
    // first again with the next id just before it is let go. That next id, sent again by the new one later, is
    // still a duplicate.
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url, { idField: 'id' });
    const client = await connectClient(url);
    const got: number[] = [];
    const waiting = new Map<number, () => void>();
    client.on('message', (data: Buffer) => {
      const { id } = JSON.parse(data.toString()) as { id: number };
      got.push(id);
      waiting.get(id)?.();
    });
    const received = (id: number) => new Promise<void>((resolve) => waiting.set(id, resolve));
    const old = gateway.connections[0] as WebSocket;
    const moving = once(gateway.wss, 'connection');
    old.send(control({ t: 'reconnect', deadline: Date.now() + 30_000, reason: 'draining' }));
    const [fresh] = (await moving) as [WebSocket];
    let next = received(1);
    fresh.send(JSON.stringify({ id: 1 }));
    await next;
    // The old link, lingering after the switch: 1 again (dropped), then 2 before the new gateway sends it.
    next = received(2);
    old.send(JSON.stringify({ id: 1 }));
    old.send(JSON.stringify({ id: 2 }));
    await next;
    // The relay lets the old link go at the end of its linger; the old gateway sees that close.
    await once(old, 'close');
    next = received(3);
    fresh.send(JSON.stringify({ id: 2 }));
    fresh.send(JSON.stringify({ id: 3 }));
    await next;
    expect(got).toEqual([1, 2, 3]);
  });

  it('stops reading ids when a move fails and the client stays: the same id twice then reaches the client twice', async () => {
    let upgrades = 0;
    // The second upgrade (the move's) is refused.
    const gateway = await wsGateway({ verifyClient: () => ++upgrades === 1 });
    const { url } = await startRelay(gateway.url, { idField: 'id' });
    const client = await connectClient(url);
    const old = gateway.connections[0] as WebSocket;
    const got: string[] = [];
    client.on('message', (data: Buffer) => got.push(data.toString()));
    // A hint whose deadline leaves no time to try again, then a message inside the move.
    old.send(control({ t: 'reconnect', deadline: Date.now() + 200, reason: 'draining' }));
    old.send('{"id":1,"n":"a"}');
    await once(client, 'message');
    // Sent once the relay had the hint: held until the move ended, then given to the gateway that stays.
    client.send('after');
    await once(old, 'message');
    const second = once(client, 'message');
    old.send('{"id":1,"n":"b"}');
    await second;
    expect(got).toEqual(['{"id":1,"n":"a"}', '{"id":1,"n":"b"}']);
    expect(upgrades).toBe(2);
  });

  it('reads message ids only in a move: the same id twice outside a move reaches the client twice', async () => {
    const gateway = await wsGateway();
    const { url } = await startRelay(gateway.url, { idField: 'id' });
    const client = await connectClient(url);
    const socket = gateway.connections[0] as WebSocket;
    const got: string[] = [];
    const three = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push(data.toString());
        if (got.length === 3) resolve();
      }),
    );
    socket.send('{"id":1,"n":"a"}');
    socket.send('{"id":1,"n":"b"}');
    socket.send('{"id":2}');
    await three;
    expect(got).toEqual(['{"id":1,"n":"a"}', '{"id":1,"n":"b"}', '{"id":2}']);
  });
});
