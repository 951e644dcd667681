// A client's side of a relayed pair: the `WebSocket` class the relay's ws server makes for each accepted
// client (ws's documented `WebSocket` option: a class that extends its own). ws still does the handshake, so
// drain-core's gate, the subprotocol choice and the 'connection' event are unchanged, and drain-core tracks it
// as any ws socket (close, terminate, send, 'close'). But it reads no message: a FrameSplitter finds the client's
// whole messages and the relay forwards their bytes as they came; the gateway's bytes are written to it as
// they came. Pings are answered here and pongs dropped (each hop keeps its own liveness); a close frame is
// answered and ends the pair.

import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import {
  closePayload,
  encodeFrame,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  parseClosePayload,
} from './frame-codec.js';
import { type FrameSink, FrameSplitter, type SplitterOptions } from './frame-splitter.js';

/** How long a close handshake may take before the socket is destroyed (ws's closeTimeout). */
const CLOSE_TIMEOUT_MS = 30_000;
const EMPTY = Buffer.alloc(0);

/** Where a client's whole messages and its close go: its pair. */
export interface ClientMessages {
  fromClient(bytes: Buffer): void;
  clientClosed(code: number, reason: string): void;
}

const splitterOptions = new Map<number, SplitterOptions>();
/** The options of every client's splitter with this maxPayload (one object, not one per client). */
function clientSplitterOptions(maxPayload: number): SplitterOptions {
  let options = splitterOptions.get(maxPayload);
  if (!options) {
    options = { masked: true, maxPayload, eachMessage: false, reserveControl: false };
    splitterOptions.set(maxPayload, options);
  }
  return options;
}

// Shared listeners (the link is found on its socket): a relayed pair pays for no closures of its own.
const LINK = Symbol('baton.clientLink');
type LinkedSocket = Socket & { [LINK]: ClientLink };
function onSocketData(this: LinkedSocket, chunk: Buffer): void {
  this[LINK].splitter?.push(chunk);
}
function onSocketClose(this: LinkedSocket): void {
  this[LINK].socketClosed();
}
function onSocketEnd(this: LinkedSocket): void {
  this.end();
}
function onSocketError(this: LinkedSocket): void {
  // 'close' follows, with 1006 when no close frame came.
}

/** ws's fields this class keeps current, so ws's own getters (readyState, protocol, isPaused) stay true. */
interface WsFields {
  _readyState: number;
  _socket: Socket | null;
  _closeCode: number;
  _closeMessage: Buffer;
  _closeFrameSent: boolean;
  _closeFrameReceived: boolean;
  _closeTimer: ReturnType<typeof setTimeout> | null;
  _paused: boolean;
  _extensions: object;
}

/** ws makes a `{}` per socket for its negotiated extensions; the relay negotiates none, so all share this one. */
const NO_EXTENSIONS = Object.freeze({});

export class ClientLink extends WebSocket implements FrameSink {
  splitter: FrameSplitter | undefined;
  #maxPayload = 0;
  #target: ClientMessages | undefined;
  #corked = false;

  get #ws(): WsFields {
    return this as unknown as WsFields;
  }

  /** Called by ws's server once the 101 is written: the socket is ours from here. */
  setSocket(socket: Socket, head: Buffer, options: { maxPayload?: number }): void {
    const ws = this.#ws;
    this.#maxPayload = options.maxPayload || 100 * 1024 * 1024;
    const linked = socket as LinkedSocket;
    linked[LINK] = this;
    ws._socket = socket;
    ws._extensions = NO_EXTENSIONS;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    if (head.length > 0) socket.unshift(head);
    socket.on('close', onSocketClose);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    // Not read until the relay has its upstream in hand (relayTo).
    socket.pause();
    ws._readyState = WebSocket.OPEN;
  }

  /** Start reading the client: its whole messages go to `target`. */
  relayTo(target: ClientMessages): void {
    const ws = this.#ws;
    if (this.#target || !ws._socket || ws._readyState !== WebSocket.OPEN) return;
    this.#target = target;
    this.splitter = new FrameSplitter(clientSplitterOptions(this.#maxPayload), this);
    ws._socket.on('data', onSocketData);
    if (!ws._paused) ws._socket.resume();
  }

  /**
   * The gateway's frames, as they came (unmasked, whole messages); `cork` when they come one message at a time.
   * False when the socket's buffer is past its high-water mark (write()'s answer): only then is bufferedAmount
   * worth reading.
   */
  forward(bytes: Buffer, cork: boolean): boolean {
    const ws = this.#ws;
    if (ws._readyState !== WebSocket.OPEN || !ws._socket) return true;
    if (cork) this.#cork(ws._socket);
    return ws._socket.write(bytes);
  }

  /**
   * The messages one read from the gateway brought leave in one write (a write per message had made the send
   * path the relay's main cost when it re-encoded messages).
   */
  #cork(socket: Socket): void {
    if (this.#corked) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  /** A message of the relay's own (drain-core's hints to a client that speaks Baton to the relay). */
  override send(data: unknown, options?: unknown, callback?: (error?: Error) => void): void {
    const done = typeof options === 'function' ? (options as (error?: Error) => void) : callback;
    const ws = this.#ws;
    if (ws._readyState !== WebSocket.OPEN || !ws._socket) {
      done?.(new Error('WebSocket is not open'));
      return;
    }
    const binary = typeof data !== 'string' && (options as { binary?: boolean } | undefined)?.binary !== false;
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data as Uint8Array);
    ws._socket.write(encodeFrame(binary ? OPCODE_BINARY : OPCODE_TEXT, payload, false), (error) =>
      done?.(error ?? undefined),
    );
  }

  override close(code?: number, reason?: string | Buffer): void {
    const ws = this.#ws;
    if (ws._readyState === WebSocket.CLOSED || !ws._socket) return;
    if (ws._readyState === WebSocket.CLOSING) {
      if (ws._closeFrameSent && ws._closeFrameReceived) ws._socket.end();
      return;
    }
    ws._readyState = WebSocket.CLOSING;
    this.#sendClose(code, reason === undefined ? '' : String(reason));
    if (ws._closeFrameReceived) ws._socket.end();
  }

  override terminate(): void {
    const ws = this.#ws;
    if (ws._readyState === WebSocket.CLOSED || !ws._socket) return;
    ws._readyState = WebSocket.CLOSING;
    ws._socket.destroy();
  }

  override pause(): void {
    const ws = this.#ws;
    if (ws._readyState === WebSocket.CLOSED) return;
    ws._paused = true;
    ws._socket?.pause();
  }

  override resume(): void {
    const ws = this.#ws;
    if (ws._readyState === WebSocket.CLOSED) return;
    ws._paused = false;
    if (this.#target) ws._socket?.resume();
  }

  #sendClose(code: number | undefined, reason: string): void {
    const ws = this.#ws;
    if (ws._closeFrameSent || !ws._socket) return;
    ws._closeFrameSent = true;
    const socket = ws._socket;
    socket.write(encodeFrame(OPCODE_CLOSE, closePayload(code, reason), false));
    ws._closeTimer = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  // FrameSink: what the client sent.
  messages(bytes: Buffer): void {
    if (this.#ws._readyState === WebSocket.OPEN) this.#target?.fromClient(bytes);
  }

  controlMessage(): void {
    // Only a gateway's side reserves control messages; a client's text is its own.
  }

  controlFrame(opcode: number, payload: Buffer): void {
    const ws = this.#ws;
    if (opcode === OPCODE_PING) {
      if (ws._readyState === WebSocket.OPEN) ws._socket?.write(encodeFrame(OPCODE_PONG, payload, false));
      return;
    }
    if (opcode !== OPCODE_CLOSE) return;
    ws._closeFrameReceived = true;
    this.splitter?.stop();
    const parsed = parseClosePayload(payload);
    if ('violation' in parsed) return this.violation(parsed.violation, parsed.message);
    ws._closeCode = parsed.code;
    ws._closeMessage = Buffer.from(parsed.reason, 'utf8');
    ws._readyState = WebSocket.CLOSING;
    // Echo the code (§5.5.1); the server then closes the TCP connection (§7.1.1).
    this.#sendClose(parsed.code, '');
    ws._socket?.end();
  }

  violation(code: number, message: string): void {
    const ws = this.#ws;
    this.splitter?.stop();
    if (ws._readyState === WebSocket.CLOSED) return;
    ws._closeCode = code;
    ws._closeMessage = Buffer.from(message, 'utf8');
    ws._readyState = WebSocket.CLOSING;
    this.#sendClose(code, message);
    ws._socket?.end();
  }

  /** The TCP connection is gone: 'close' with the code the client sent (1006 without a close frame). */
  socketClosed(): void {
    const ws = this.#ws;
    if (ws._closeTimer) clearTimeout(ws._closeTimer);
    this.splitter?.stop();
    if (ws._readyState === WebSocket.CLOSED) return;
    ws._readyState = WebSocket.CLOSED;
    const reason = ws._closeMessage ?? EMPTY;
    this.#target?.clientClosed(ws._closeCode, reason.toString('utf8'));
    this.emit('close', ws._closeCode, reason);
  }

  emitClose(): void {
    // ws calls this from its own receiver and socket listeners, none of which this class installs.
  }
}

// ws declares bufferedAmount as a property, so the accessor is defined here rather than in the class body.
Object.defineProperty(ClientLink.prototype, 'bufferedAmount', {
  get(this: WsFields): number {
    return this._socket?.writableLength ?? 0;
  },
});
