// One connection from the relay to a gateway: the client handshake of RFC 6455 §4.1, then frames found by a
// FrameSplitter and passed on unchanged. What it reads goes to its owner (the pair's UpstreamMover) as the
// gateway's frames in bytes (whole messages, so a move switches between two of them), except Baton's control
// messages, given as text for the mover to act on; they never reach the client. Its send() writes a client's
// frames as they came (masked by the client). Pings are answered here, pongs dropped: each hop keeps its own
// liveness.

import { createHash, randomBytes } from 'node:crypto';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { BATON_PROTOCOL, type ControlGate } from '@baton/client/protocol';
import {
  CLOSE_ABNORMAL,
  closePayload,
  encodeFrame,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  parseClosePayload,
} from './frame-codec.js';
import { type FrameSink, FrameSplitter, type SplitterOptions } from './frame-splitter.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** How long a close handshake may take before the socket is destroyed (ws's closeTimeout). */
const CLOSE_TIMEOUT_MS = 30_000;
/** A gateway's handshake response larger than this is refused (Node's own header limit is 16 KiB). */
const MAX_RESPONSE_HEAD = 16 * 1024;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** What a link tells the one that opened it. `link` says which: a mover holds two during a move. */
export interface LinkOwner {
  linkOpened(link: UpstreamLink): void;
  /** Whole messages as bytes, or one control message as text. */
  linkMessage(link: UpstreamLink, data: Buffer | string): void;
  /** The connection is gone (before opening too, with 1006): the code the gateway sent, or 1006. */
  linkClosed(link: UpstreamLink, code: number, reason: string): void;
}

/** The gateway, the same for every client of a relay. */
export interface UpstreamEndpoint {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** The request lines every upgrade to it carries: Host, Connection, Upgrade, version. */
  readonly commonLines: string;
  /** Credentials from the upstream URL, as an Authorization line, for a client that forwarded none. */
  readonly authorization: string | undefined;
  /** Shared by the relay's links (unmasked frames, control messages reserved). */
  readonly splitter: SplitterOptions;
}

/**
 * The part of one client's upgrade request to the gateway that is its own: the request line (its path and query)
 * and the forwarded headers. The endpoint's common lines, a link's key and the subprotocols it offers follow.
 * One string per pair, so a pair holds no header objects (memory per relayed connection is a benchmarked goal).
 */
export function upgradeRequestHead(
  endpoint: UpstreamEndpoint,
  upstreamUrl: string,
  headers: Record<string, string>,
): string {
  const target = new URL(upstreamUrl);
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) {
    // Values come from a request Node's parser accepted, which never carries CR or LF; checked all the same.
    if (!/[\r\n]/.test(value)) lines.push(`${name}: ${value}`);
  }
  // As http.request's `auth`: the URL's credentials unless the request carries its own.
  if (endpoint.authorization && headers.authorization === undefined) lines.push(endpoint.authorization);
  lines.push('');
  // join() makes one flat string, where += would keep a rope of every piece for the pair's life.
  return lines.join('\r\n');
}

/** Where a relay's upstream URL points: host (an IPv6 literal unbracketed), port, TLS or not, common lines. */
export function endpointOf(upstream: URL, splitter: SplitterOptions): UpstreamEndpoint {
  const secure = upstream.protocol === 'wss:';
  const host = upstream.hostname.startsWith('[') ? upstream.hostname.slice(1, -1) : upstream.hostname;
  const credentials =
    upstream.username || upstream.password
      ? `${decodeURIComponent(upstream.username)}:${decodeURIComponent(upstream.password)}`
      : undefined;
  return {
    host,
    port: Number(upstream.port) || (secure ? 443 : 80),
    secure,
    commonLines: [
      `Host: ${upstream.host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      '',
    ].join('\r\n'),
    authorization: credentials ? `Authorization: Basic ${Buffer.from(credentials).toString('base64')}` : undefined,
    splitter,
  };
}

// Shared listeners (the link is found on its socket): a relayed pair pays for no closures of its own.
const LINK = Symbol('baton.upstreamLink');
type LinkedSocket = Socket & { [LINK]: UpstreamLink };
function onSocketData(this: LinkedSocket, chunk: Buffer): void {
  this[LINK].read(chunk);
}
function onSocketClose(this: LinkedSocket): void {
  this[LINK].socketClosed();
}
function onSocketError(this: LinkedSocket): void {
  // 'close' follows; the close event says what happened (1006 without a close frame).
}

export class UpstreamLink implements FrameSink {
  static readonly OPEN = OPEN;

  readyState = CONNECTING;
  protocol = '';
  /** Set by the mover: this link's control key rule (the first control message must be a welcome). */
  gate: ControlGate | undefined;
  readonly splitter: FrameSplitter;
  readonly #owner: LinkOwner;
  readonly #socket: LinkedSocket;
  /** What this link offered, until the gateway's answer is checked. */
  #offered: readonly string[] | undefined;
  /** The handshake's key, until the gateway's answer is checked. */
  #key: string | undefined;
  /** The handshake response read so far (until its blank line). */
  #response: Buffer | undefined;
  #closeSent = false;
  #closeReceived = false;
  #code = CLOSE_ABNORMAL;
  #reason = '';
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(endpoint: UpstreamEndpoint, requestHead: string, offered: readonly string[], owner: LinkOwner) {
    this.#owner = owner;
    this.splitter = new FrameSplitter(endpoint.splitter, this);
    this.#offered = offered;
    this.#key = randomBytes(16).toString('base64');
    const { host, port, secure } = endpoint;
    // Connected by hand, not with http.request: an upgraded socket is never pooled, and a socket that never
    // had an HTTP client's listeners costs less for as long as the pair lives.
    const socket = (
      secure ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) }) : netConnect({ host, port })
    ) as LinkedSocket;
    socket[LINK] = this;
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    const protocols = offered.length > 0 ? `Sec-WebSocket-Protocol: ${offered.join(',')}\r\n` : '';
    socket.write(`${requestHead}${endpoint.commonLines}Sec-WebSocket-Key: ${this.#key}\r\n${protocols}\r\n`);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /** A client's frames, as they came (masked by the client, whole messages). False past the high-water mark. */
  send(data: Buffer): boolean {
    if (this.readyState !== OPEN) return true;
    return this.#socket.write(data);
  }

  close(code?: number, reason = ''): void {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    if (this.readyState === CONNECTING) return this.#fail();
    this.readyState = CLOSING;
    this.#sendClose(code, reason);
    if (this.#closeReceived) this.#socket.end();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** What the socket read: the handshake's response first, then frames. */
  read(chunk: Buffer): void {
    if (this.readyState !== CONNECTING) return this.splitter.push(chunk);
    const response = this.#response ? Buffer.concat([this.#response, chunk]) : chunk;
    const end = response.indexOf('\r\n\r\n');
    if (end === -1) {
      if (response.length > MAX_RESPONSE_HEAD) return this.#fail();
      this.#response = response;
      return;
    }
    this.#response = undefined;
    if (!this.#accepted(response.toString('latin1', 0, end))) return this.#fail();
    this.readyState = OPEN;
    this.#owner.linkOpened(this);
    // Frames that came with the response.
    if (response.length > end + 4 && this.readyState === OPEN) this.splitter.push(response.subarray(end + 4));
  }

  /**
   * The gateway's answer checked as RFC 6455 §4.1 asks a client to (and ws does): 101, Upgrade, the key's
   * accept value, a subprotocol among those offered (one must come back when some were offered), and no
   * extension (none was offered: frames cross unchanged only without one). Anything else — a refusal, a 503
   * for a rebalance move — fails the link.
   */
  #accepted(head: string): boolean {
    const lines = head.split('\r\n');
    if (!/^HTTP\/1\.1 101(?: |$)/.test(lines[0] ?? '')) return false;
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) return false;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const accept = createHash('sha1')
      .update(this.#key + GUID)
      .digest('base64');
    this.#key = undefined;
    const selected = headers.get('sec-websocket-protocol');
    if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return false;
    if (headers.get('sec-websocket-accept') !== accept) return false;
    const offered = this.#offered ?? [];
    this.#offered = undefined;
    if (selected === undefined ? offered.length > 0 : !offered.includes(selected)) return false;
    if (headers.has('sec-websocket-extensions')) return false;
    // The usual answer as the one constant string rather than a copy per link.
    this.protocol = selected === BATON_PROTOCOL ? BATON_PROTOCOL : (selected ?? '');
    return true;
  }

  /** The handshake failed: a close without a close frame (1006); why is the gateway's to log. */
  #fail(): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = CLOSING;
    this.#socket.destroy();
  }

  #sendClose(code: number | undefined, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    const socket = this.#socket;
    socket.write(encodeFrame(OPCODE_CLOSE, closePayload(code, reason), true));
    this.#closeTimer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref?.();
  }

  // FrameSink: what the gateway sent.
  messages(bytes: Buffer): void {
    if (!this.#closeReceived) this.#owner.linkMessage(this, bytes);
  }

  controlMessage(text: string): void {
    if (!this.#closeReceived) this.#owner.linkMessage(this, text);
  }

  controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) {
      if (!this.#closeSent) this.#socket.write(encodeFrame(OPCODE_PONG, payload, true));
      return;
    }
    if (opcode !== OPCODE_CLOSE) return;
    this.#closeReceived = true;
    this.splitter.stop();
    const parsed = parseClosePayload(payload);
    if ('violation' in parsed) return this.violation(parsed.violation, parsed.message);
    this.#code = parsed.code;
    this.#reason = parsed.reason;
    this.readyState = CLOSING;
    // Echo the code (§5.5.1), then end: the server closes the TCP connection first (§7.1.1), the client's end
    // only answers it.
    this.#sendClose(parsed.code, '');
    this.#socket.end();
  }

  violation(code: number, message: string): void {
    this.splitter.stop();
    if (this.readyState === CLOSED) return;
    this.#code = code;
    this.#reason = message;
    this.readyState = CLOSING;
    this.#sendClose(code, message);
    this.#socket.end();
  }

  /** The TCP connection is gone: the close its owner learns. */
  socketClosed(): void {
    clearTimeout(this.#closeTimer);
    this.splitter.stop();
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#owner.linkClosed(this, this.#code, this.#reason);
  }
}
