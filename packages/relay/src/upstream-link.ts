// One connection from the relay to a gateway, as the WebSocket that @baton/client's BatonSocket drives (the
// `WebSocket` option): the client handshake of RFC 6455 §4.1, then frames found by a FrameSplitter and passed on
// unchanged. Its "messages" are the gateway's frames as bytes (whole messages, so a move switches between two
// of them), except Baton's control messages, which are given as text for BatonSocket to act on and never reach
// the client. Its send() writes a client's frames as they came (masked by the client). Pings are answered
// here, pongs dropped: each hop keeps its own liveness, as before the relay forwarded bytes.

import { createHash, randomBytes } from 'node:crypto';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  CLOSE_ABNORMAL,
  closePayload,
  encodeFrame,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  parseClosePayload,
} from './frame-codec.js';
import { type FrameSink, FrameSplitter } from './frame-splitter.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** How long a close handshake may take before the socket is destroyed (ws's closeTimeout). */
const CLOSE_TIMEOUT_MS = 30_000;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

export interface UpstreamLinkOptions {
  readonly headers?: Record<string, string>;
  readonly maxPayload: number;
  /** One message event per gateway message (the relay reads message ids); else runs of them. */
  readonly eachMessage: boolean;
}

type Handler<E> = ((event: E) => void) | null;

// Shared listeners (the link is found on its socket): a relayed pair pays for no closures of its own.
const LINK = Symbol('baton.upstreamLink');
type LinkedSocket = Socket & { [LINK]: UpstreamLink };
function onSocketData(this: LinkedSocket, chunk: Buffer): void {
  this[LINK].splitter.push(chunk);
}
function onSocketClose(this: LinkedSocket): void {
  this[LINK].socketClosed();
}
function onSocketEnd(this: LinkedSocket): void {
  this.end();
}
function onSocketError(this: LinkedSocket): void {
  // 'close' follows; the close event says what happened (1006 without a close frame).
}

export class UpstreamLink implements FrameSink {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  readyState = CONNECTING;
  protocol = '';
  readonly extensions = '';
  binaryType = 'nodebuffer';
  onopen: Handler<object> = null;
  onmessage: Handler<{ data: Buffer | string }> = null;
  onclose: Handler<{ code: number; reason: string; wasClean: boolean }> = null;
  onerror: Handler<{ message: string }> = null;
  readonly splitter: FrameSplitter;
  #request: ClientRequest | undefined;
  #socket: LinkedSocket | undefined;
  #closeSent = false;
  #closeReceived = false;
  #code = CLOSE_ABNORMAL;
  #reason = '';
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, protocols: string | string[] = [], options: UpstreamLinkOptions) {
    const offered = typeof protocols === 'string' ? [protocols] : protocols;
    this.splitter = new FrameSplitter(
      { masked: false, maxPayload: options.maxPayload, eachMessage: options.eachMessage, reserveControl: true },
      this,
    );
    const target = new URL(url);
    const secure = target.protocol === 'wss:';
    const key = randomBytes(16).toString('base64');
    // An IPv6 literal comes bracketed from URL; sockets and SNI want it bare.
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    const port = Number(target.port) || (secure ? 443 : 80);
    const headers: Record<string, string> = {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
    };
    if (offered.length > 0) headers['Sec-WebSocket-Protocol'] = offered.join(',');
    const auth =
      target.username || target.password
        ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`
        : undefined;
    const request = (secure ? httpsRequest : httpRequest)({
      host,
      port,
      path: `${target.pathname}${target.search}`,
      headers,
      ...(auth ? { auth } : {}),
      // No agent: an upgraded socket is never pooled (as ws does).
      createConnection: () =>
        secure ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) }) : netConnect({ host, port }),
    });
    this.#request = request;
    request.on('upgrade', (response: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgraded(response, socket, head, key, offered),
    );
    request.on('response', (response: IncomingMessage) => {
      response.resume();
      this.#fail(`Unexpected server response: ${response.statusCode}`);
    });
    request.on('error', (error: Error) => this.#fail(error.message));
    request.end();
  }

  get bufferedAmount(): number {
    return this.#socket?.writableLength ?? 0;
  }

  /** A client's frames, as they came (masked by the client, whole messages). */
  send(data: Buffer): void {
    if (this.readyState !== OPEN) return;
    (this.#socket as Socket).write(data);
  }

  close(code?: number, reason = ''): void {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    if (this.readyState === CONNECTING) return this.#fail('WebSocket was closed before the connection was established');
    this.readyState = CLOSING;
    this.#sendClose(code, reason);
    if (this.#closeReceived) (this.#socket as Socket).end();
  }

  pause(): void {
    this.#socket?.pause();
  }

  resume(): void {
    this.#socket?.resume();
  }

  #upgraded(response: IncomingMessage, socket: Socket, head: Buffer, key: string, offered: string[]): void {
    this.#request = undefined;
    if (this.readyState !== CONNECTING) {
      socket.destroy();
      return;
    }
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const selected = response.headers['sec-websocket-protocol'];
    let problem: string | undefined;
    if (String(response.headers.upgrade).toLowerCase() !== 'websocket') problem = 'Invalid Upgrade header';
    else if (response.headers['sec-websocket-accept'] !== accept) problem = 'Invalid Sec-WebSocket-Accept header';
    else if (selected !== undefined && !offered.includes(selected)) problem = 'Server sent an invalid subprotocol';
    else if (selected === undefined && offered.length > 0) problem = 'Server sent no subprotocol';
    // Nothing was offered, so nothing may be accepted: frames cross unchanged only without extensions.
    else if (response.headers['sec-websocket-extensions'] !== undefined) problem = 'Server sent an extension';
    if (problem) {
      socket.destroy();
      return this.#fail(problem);
    }
    this.protocol = selected ?? '';
    const linked = socket as LinkedSocket;
    linked[LINK] = this;
    this.#socket = linked;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    if (head.length > 0) socket.unshift(head);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    this.readyState = OPEN;
    this.onopen?.({});
  }

  /** The handshake failed: an error, then a close without a close frame (1006), as ws reports it. */
  #fail(message: string): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = CLOSED;
    this.#request?.destroy();
    this.#request = undefined;
    queueMicrotask(() => {
      this.onerror?.({ message });
      this.onclose?.({ code: CLOSE_ABNORMAL, reason: '', wasClean: false });
    });
  }

  #sendClose(code: number | undefined, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    const socket = this.#socket as Socket;
    socket.write(encodeFrame(OPCODE_CLOSE, closePayload(code, reason), true));
    this.#closeTimer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref?.();
  }

  // FrameSink: what the gateway sent.
  messages(bytes: Buffer): void {
    if (!this.#closeReceived) this.onmessage?.({ data: bytes });
  }

  controlMessage(text: string): void {
    if (!this.#closeReceived) this.onmessage?.({ data: text });
  }

  controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === OPCODE_PING) {
      if (!this.#closeSent) (this.#socket as Socket).write(encodeFrame(OPCODE_PONG, payload, true));
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
    (this.#socket as Socket).end();
  }

  violation(code: number, message: string): void {
    this.splitter.stop();
    if (this.readyState === CLOSED) return;
    this.#code = code;
    this.#reason = message;
    this.readyState = CLOSING;
    this.#sendClose(code, message);
    (this.#socket as Socket).end();
  }

  /** The TCP connection is gone: the close the BatonSocket sees. */
  socketClosed(): void {
    clearTimeout(this.#closeTimer);
    this.splitter.stop();
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.onclose?.({ code: this.#code, reason: this.#reason, wasClean: this.#closeSent && this.#closeReceived });
  }
}
