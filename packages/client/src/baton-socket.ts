// A WebSocket-compatible socket that follows Baton reconnect hints. On a hint it opens a second connection
// (the load balancer sends it to a new pod), waits for that pod's welcome, switches, and only then lets the
// old connection go: make-before-break, with sends held during the switch and delivered in order after it.
// After an unexpected close it reconnects with capped, fully jittered back-off, resuming when it holds a
// token. Control messages never reach the app.

import { type BackoffOptions, reconnectDelay } from './backoff.js';
import { BatonCloseEvent, BatonMessageEvent, type BatonSocketEventMap, MigratedEvent, ResumeEvent } from './events.js';
import {
  BATON_PROTOCOL,
  type Control,
  ControlGate,
  MAX_TOKEN_CHARS,
  parseControl,
  REBALANCE_PROTOCOL,
  REBALANCE_TRIES,
  RESUME_PROTOCOL_PREFIX,
} from './protocol.js';
import { SendQueue } from './send-queue.js';

type Data = string | ArrayBufferLike | Blob | ArrayBufferView;

/**
 * The part of a WebSocket this client uses: the browser's (lib.dom), `ws`'s in Node, or any class of that
 * shape. The handlers take `never` so that each implementation's own event types fit without a cast; the
 * client reads only `data` from a message and `code`, `reason`, `wasClean` from a close.
 */
export interface UnderlyingSocket {
  readonly readyState: number;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: never): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  /** ws only (Node): stop and restart reading. Browsers' WebSocket has neither. */
  pause?(): void;
  resume?(): void;
}

/** A WebSocket class: `WebSocket` from 'ws', the browser's global `WebSocket`, or one of that shape. */
export type SocketConstructor = new (
  url: string,
  protocols?: string | string[],
  // ws's third argument (maxPayload, headers, agent…); browsers take none.
  options?: never,
) => UnderlyingSocket;

// Spelled out rather than lib.dom's names, so the types also compile in a Node project without the DOM lib.
type ListenerOptions = boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal };
type Listener = ((event: Event) => unknown) | { handleEvent(event: Event): unknown } | null;

type MessageHandler = (event: { data: unknown }) => void;
type CloseHandler = (event: { code: number; reason: string; wasClean?: boolean }) => void;

/** Where the next connection goes; see the `url` option. */
export interface UrlContext {
  /** 'connect': the first connection; 'move': a hint's make-before-break; 'reconnect': after a close. */
  readonly reason: 'connect' | 'move' | 'reconnect';
  /** The URL of the connection being replaced (the constructor's URL for 'connect'). */
  readonly current: string;
  /** Reconnects in a row so far (0 for 'connect' and 'move'); a connection shorter than healthyAfterMs does not end the row. */
  readonly attempt: number;
}

export interface BatonSocketOptions extends BackoffOptions {
  /** WebSocket implementation. Default globalThis.WebSocket; in Node 20 pass `WebSocket` from 'ws'. */
  WebSocket?: SocketConstructor;
  /** Message → id, to drop the duplicates a switch can deliver (both servers send during the overlap). */
  // biome-ignore lint/suspicious/noExplicitAny: the same `data` as a message event's (lib.dom types it `any`).
  dedupe?: (data: any) => string | number | undefined;
  /**
   * Where each connection goes. Default: the constructor's URL every time, so a move reaches another server
   * only because the load balancer (the Kubernetes Service) no longer routes to the draining one. Without a
   * load balancer, give a function that picks the next server, e.g. round-robin over a list.
   */
  url?: (context: UrlContext) => string | URL;
  /** How many recent ids dedupe remembers. Default 4096. */
  dedupeWindow?: number;
  /** How long after switching the old connection may still deliver before it is closed with 1000. Default 1000. */
  lingerMs?: number;
  /**
   * Sends made while no connection can take them (during a move's switch, while reconnecting) wait, counted in
   * bufferedAmount, up to this many bytes; past it send() throws a QueueFullError (code BATON_ERR_QUEUE_FULL)
   * and queues nothing. Default 16 MiB.
   */
  maxQueuedBytes?: number;
  /** Give up after this many failed reconnects in a row. Default Infinity. */
  maxRetries?: number;
  /**
   * How long a connection must stay open before the back-off starts over. Default 5000. A connection that closes
   * sooner counts as a failed attempt, so against a server that accepts and closes at once (broken, overloaded
   * or hostile) the delays keep doubling instead of reconnecting in a tight loop.
   */
  healthyAfterMs?: number;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * At most this many moves (hints followed) per `moveWindowMs`; hints beyond are ignored and the server's
   * deadline close takes over (with the reconnect back-off). Default 3 per 10000 ms: a broken or hostile
   * server cannot make the client open sockets in a loop.
   */
  maxMoves?: number;
  moveWindowMs?: number;
  /**
   * When the old connection closes before a move under way has finished (its deadline passed on a slow link,
   * or its server died), how long the move may still take before the app sees that close and the client
   * reconnects. Default 5000.
   */
  moveGraceMs?: number;
  /** Node only: options for the WebSocket constructor's third argument, e.g. `{ maxPayload }` for `ws`. */
  socketOptions?: Record<string, unknown>;
}

function ignore(): void {}

const DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024;

// Which sockets offered a resume token, and the URL each connected to: shared by every BatonSocket (the keys
// are its own sockets), so that a socket costs no weak collections of its own.
const OFFERED_TOKEN = new WeakSet<UnderlyingSocket>();
const URLS = new WeakMap<UnderlyingSocket, string>();
// Each socket's control gate (protocol.ts): made on its first control message.
const CONTROL_GATES = new WeakMap<UnderlyingSocket, ControlGate>();

/** A message's meaning on `socket`: undefined for app data, a Control its server sent, null to drop. */
function controlOf(socket: UnderlyingSocket, data: unknown): Control | null | undefined {
  const control = parseControl(data);
  if (!control) return control;
  let gate = CONTROL_GATES.get(socket);
  if (!gate) {
    gate = new ControlGate();
    CONTROL_GATES.set(socket, gate);
  }
  return gate.admit(control) ? control : null;
}

const EVENT_BITS: Record<string, number> = {
  open: 1,
  message: 2,
  close: 4,
  error: 8,
  migrated: 16,
  resumed: 32,
  'resume-failed': 64,
};
const ALL_EVENTS = 127;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

export class BatonSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  readonly CONNECTING = CONNECTING;
  readonly OPEN = OPEN;
  readonly CLOSING = CLOSING;
  readonly CLOSED = CLOSED;

  readonly url: string;
  readyState = CONNECTING;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: BatonMessageEvent) => void) | null = null;
  onclose: ((event: BatonCloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  readonly #protocols: string[];
  readonly #options: BatonSocketOptions;
  readonly #Socket: SocketConstructor;
  readonly #random: () => number;
  #binaryType: string | undefined;
  #active: UnderlyingSocket | undefined;
  #next: UnderlyingSocket | undefined;
  #nextBuffer: unknown[] = [];
  /** Sends held while a switch or a reconnect is under way. */
  #outbox: SendQueue<Data>;
  /** The resume token, kept until a welcome accepted or refused it. */
  #token: string | undefined;
  /** Sockets that offered a resume token: only their welcome may report `resumed`. */
  readonly #offeredToken = OFFERED_TOKEN;
  /** When recent moves began (ms), for the move cap. */
  #moves: number[] = [];
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resets the back-off once the active connection has stayed open healthyAfterMs. */
  #healthyTimer: ReturnType<typeof setTimeout> | undefined;
  /** Recent message ids (dedupe), created on the first id: a socket without dedupe pays nothing. */
  #ids: Set<string | number> | undefined;
  #closedByApp = false;
  #opened = false;
  #paused = false;
  /** The old connection's close, held while a move it outlived may still succeed (see moveGraceMs). */
  #heldClose: { code: number; reason: string; wasClean: boolean } | undefined;
  #moveGraceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The URL of the active connection (the constructor's unless the `url` option chose another). */
  #currentUrl: string;
  readonly #urls = URLS;
  /** Bits of the event types that ever had a listener: the others skip dispatchEvent, an event's costly part. */
  #listened = 0;

  constructor(url: string | URL, protocols: string | string[] = [], options: BatonSocketOptions = {}) {
    super();
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (typeof Socket !== 'function') {
      throw new TypeError('No WebSocket implementation: pass options.WebSocket (in Node 20, WebSocket from "ws").');
    }
    this.url = String(url);
    this.#currentUrl = this.url;
    if (options.url !== undefined && typeof options.url !== 'function') {
      throw new TypeError('options.url must be a function ({ reason, current, attempt }) => string | URL.');
    }
    for (const name of ['moveGraceMs', 'healthyAfterMs'] as const) {
      const ms = options[name];
      if (ms !== undefined && !(typeof ms === 'number' && ms >= 0 && Number.isFinite(ms))) {
        throw new TypeError(`options.${name} must be a finite number of milliseconds ≥ 0 (default 5000).`);
      }
    }
    const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (!(typeof maxQueuedBytes === 'number' && maxQueuedBytes > 0)) {
      throw new TypeError(
        'options.maxQueuedBytes must be a number of bytes > 0 (default 16 MiB; Infinity for no bound).',
      );
    }
    this.#outbox = new SendQueue(maxQueuedBytes);
    this.#protocols = typeof protocols === 'string' ? [protocols] : [...protocols];
    this.#options = options;
    this.#Socket = Socket;
    this.#random = options.random ?? Math.random;
    this.#connect();
  }

  override addEventListener<K extends keyof BatonSocketEventMap>(
    type: K,
    listener: ((this: BatonSocket, event: BatonSocketEventMap[K]) => unknown) | null,
    options?: ListenerOptions,
  ): void;
  override addEventListener(type: string, listener: Listener, options?: ListenerOptions): void;
  override addEventListener(type: string, listener: unknown, options?: ListenerOptions): void {
    if (listener) this.#listened |= EVENT_BITS[type] ?? ALL_EVENTS;
    super.addEventListener(type, listener as Parameters<EventTarget['addEventListener']>[1], options);
  }

  override removeEventListener<K extends keyof BatonSocketEventMap>(
    type: K,
    listener: ((this: BatonSocket, event: BatonSocketEventMap[K]) => unknown) | null,
    options?: ListenerOptions,
  ): void;
  override removeEventListener(type: string, listener: Listener, options?: ListenerOptions): void;
  override removeEventListener(type: string, listener: unknown, options?: ListenerOptions): void {
    super.removeEventListener(type, listener as Parameters<EventTarget['removeEventListener']>[1], options);
  }

  /** The subprotocol the server selected for the app ('' when it selected only Baton's). */
  get protocol(): string {
    const selected = this.#active?.protocol ?? '';
    return selected === BATON_PROTOCOL ? '' : selected;
  }

  get extensions(): string {
    return this.#active?.extensions ?? '';
  }

  /** Bytes sent but not yet on the network: the connection's own, plus the sends waiting for a move or a reconnect. */
  get bufferedAmount(): number {
    return (this.#active?.bufferedAmount ?? 0) + this.#outbox.bytes;
  }

  get binaryType(): string {
    return this.#binaryType ?? this.#active?.binaryType ?? 'blob';
  }

  set binaryType(value: string) {
    this.#binaryType = value;
    for (const socket of [this.#active, this.#next]) if (socket) socket.binaryType = value;
  }

  /**
   * Node with `ws` only: stop reading from the server (TCP then pushes back on it) until resume(), across moves
   * and reconnects. For a consumer slower than its server, e.g. a relay whose client reads slowly. A no-op
   * with a WebSocket that cannot pause (the browser's).
   */
  pause(): void {
    this.#paused = true;
    this.#active?.pause?.();
  }

  resume(): void {
    this.#paused = false;
    this.#active?.resume?.();
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  send(data: Data): void {
    // Like a WebSocket before its first open; once opened, sends made while reconnecting wait instead.
    if (!this.#opened) throw new DOMException('The socket is still connecting.', 'InvalidStateError');
    if (this.readyState >= CLOSING) return;
    // During a switch (or a reconnect in progress) sends wait, and go out in order on the new connection.
    // Bounded (maxQueuedBytes): past it, send() throws a QueueFullError and queues nothing.
    if (this.#next || this.#active?.readyState !== OPEN) this.#outbox.push(data);
    else this.#active.send(data as never);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= CLOSING) return;
    this.#closedByApp = true;
    this.#abandonMove();
    if (this.#active && this.#active.readyState < CLOSING) {
      this.readyState = CLOSING;
      this.#active.close(code, reason);
    } else {
      this.#finish(code ?? 1000, reason ?? '', true);
    }
  }

  /** The URL of the connection currently in use: the constructor's, or the one the `url` option chose. */
  get currentUrl(): string {
    return this.#currentUrl;
  }

  #target(reason: UrlContext['reason']): string {
    const choose = this.#options.url;
    if (!choose) return this.url;
    try {
      const chosen = choose({ reason, current: this.#currentUrl, attempt: reason === 'reconnect' ? this.#attempt : 0 });
      if (typeof chosen === 'string' || chosen instanceof URL) return String(chosen);
    } catch {
      // An app bug must not stop the reconnect loop: fall back to the constructor's URL.
    }
    return this.url;
  }

  #open(resumeToken: string | undefined, reason: UrlContext['reason'], rebalance = false): UnderlyingSocket {
    const offered = [...this.#protocols, BATON_PROTOCOL];
    if (rebalance) offered.push(REBALANCE_PROTOCOL);
    // A token the server would refuse (too long) is not sent at all.
    const token = resumeToken && resumeToken.length <= MAX_TOKEN_CHARS ? resumeToken : undefined;
    if (token) offered.push(RESUME_PROTOCOL_PREFIX + token);
    const url = this.#target(reason);
    const socket = this.#options.socketOptions
      ? new this.#Socket(url, offered, this.#options.socketOptions as never)
      : new this.#Socket(url, offered);
    this.#urls.set(socket, url);
    if (token) this.#offeredToken.add(socket);
    if (this.#binaryType) socket.binaryType = this.#binaryType;
    return socket;
  }

  #connect(): void {
    // The token stays until a welcome answers it: a reconnect that fails (the pod died) tries it again.
    const socket = this.#open(this.#token, this.#opened || this.#attempt > 0 ? 'reconnect' : 'connect');
    this.#active = socket;
    this.#currentUrl = this.#urls.get(socket) ?? this.url;
    socket.onopen = () => {
      // ws ignores pause() while connecting: a paused socket is paused once open.
      if (this.#paused) socket.pause?.();
      // Not at once: a connection that closes before it stayed open a while was a failed attempt.
      clearTimeout(this.#healthyTimer);
      // Cleared whenever the connection is lost, so when it fires the client has stayed connected throughout
      // (a move in between included).
      this.#healthyTimer = setTimeout(() => {
        this.#attempt = 0;
      }, this.#options.healthyAfterMs ?? 5_000);
      this.#opened = true;
      this.readyState = OPEN;
      this.#emit(new Event('open'));
      this.#flush();
    };
    this.#own(socket);
  }

  /** Make `socket` the one whose messages, errors and close the app sees. */
  #own(socket: UnderlyingSocket): void {
    // A paused socket stays paused across a move or a reconnect.
    if (this.#paused) socket.pause?.();
    socket.onmessage = (({ data }) => this.#onActiveMessage(socket, data)) satisfies MessageHandler;
    socket.onerror = () => {
      if (socket === this.#active) this.#emit(new Event('error'));
    };
    socket.onclose = (({ code, reason, wasClean }) => {
      if (socket !== this.#active) return;
      this.#active = undefined;
      if (this.#next && !this.#closedByApp) {
        // The old connection went before the move finished: its deadline passed while the new connection was
        // still on its way (a slow link, a loaded server), or its server died. The move is still the way on,
        // so the app sees no close unless it fails or outlasts moveGraceMs; sends wait for it meanwhile.
        this.#heldClose = { code, reason, wasClean: wasClean ?? false };
        this.#moveGraceTimer = setTimeout(() => this.#moveLost(), this.#options.moveGraceMs ?? 5_000);
        return;
      }
      this.#abandonMove();
      this.#connectionLost(code, reason, wasClean ?? false);
    }) satisfies CloseHandler;
  }

  /** The active connection is gone and no move replaces it: close for good, or reconnect. */
  #connectionLost(code: number, reason: string, wasClean: boolean): void {
    clearTimeout(this.#healthyTimer);
    const retriesLeft = this.#attempt < (this.#options.maxRetries ?? Number.POSITIVE_INFINITY);
    if (this.#closedByApp || !retriesLeft) return this.#finish(code, reason, wasClean);
    // A reconnecting socket: the app sees this close, then 'open' again once reconnected.
    const wasOpen = this.readyState === OPEN;
    this.readyState = CONNECTING;
    if (wasOpen) this.#emit(new BatonCloseEvent(code, reason, wasClean));
    this.#scheduleReconnect(code);
  }

  /** A move that outlived the old connection failed or took too long: the app sees the old close now. */
  #moveLost(): void {
    const held = this.#heldClose;
    if (!held) return;
    this.#abandonMove();
    // The move's token (kept in #token) goes with the reconnect.
    this.#connectionLost(held.code, held.reason, held.wasClean);
  }

  #onActiveMessage(socket: UnderlyingSocket, data: unknown): void {
    const control = controlOf(socket, data);
    if (control === undefined) return this.#deliver(data);
    if (control === null) return;
    if (control.t === 'welcome') this.#onWelcome(socket, control.resumed, control.resumeError);
    else if (control.t === 'checkpoint') {
      // The latest session state from the server we are on: what a reconnect offers if that server dies
      // without a hint. A move under way carries its own (fresher) token.
      if (socket === this.#active && !this.#next) this.#token = control.token;
    } else if (socket === this.#active && !this.#next) {
      // Kept for a reconnect, whether or not the move cap lets us move now.
      if (control.token) this.#token = control.token;
      if (this.#mayMove()) this.#migrate(control.token, control.deadline, control.reason === 'rebalance' ? 1 : 0);
    }
  }

  /** The move cap: at most maxMoves per moveWindowMs. */
  #mayMove(): boolean {
    const now = Date.now();
    const windowMs = this.#options.moveWindowMs ?? 10_000;
    this.#moves = this.#moves.filter((at) => now - at < windowMs);
    if (this.#moves.length >= (this.#options.maxMoves ?? 3)) return false;
    this.#moves.push(now);
    return true;
  }

  #onWelcome(socket: UnderlyingSocket, resumed: boolean, resumeError: string | undefined): void {
    // A welcome answers the token this socket offered: accepted or refused, it is spent either way.
    if (this.#offeredToken.has(socket)) this.#token = undefined;
    // `resumed` means nothing on a socket that offered no token (a confused or hostile server).
    if (resumed && this.#offeredToken.has(socket)) this.#emit(new ResumeEvent('resumed'));
    else if (resumeError) this.#emit(new ResumeEvent('resume-failed', resumeError));
  }

  /**
   * Make-before-break: a second connection, switched to on its welcome. `rebalance` > 0 counts the tries of a
   * move for a rebalance: the server never closes the old connection for it, a pod holding its share refuses
   * the upgrade, and the client tries again at once (the load balancer picks another pod), up to
   * REBALANCE_TRIES; then it stays where it is.
   */
  #migrate(token: string | undefined, deadlineAt: number, rebalance = 0): void {
    this.#token = token;
    const next = this.#open(token, 'move', rebalance > 0);
    this.#next = next;
    this.#nextBuffer = [];
    next.onmessage = (({ data }) => {
      if (next !== this.#next) return this.#onActiveMessage(next, data);
      const control = controlOf(next, data);
      if (control === undefined) this.#nextBuffer.push(data);
      else if (control?.t === 'welcome') {
        this.#switchTo(next, control.resumed && this.#offeredToken.has(next), control.resumeError);
      }
    }) satisfies MessageHandler;
    const abandon = () => {
      if (next !== this.#next) return;
      this.#next = undefined;
      // Try again while the old server still holds the connection, within the move cap; after that, the close
      // path reconnects.
      const again = rebalance ? rebalance < REBALANCE_TRIES : this.#mayMove();
      if (Date.now() + 250 < deadlineAt && this.#active?.readyState === OPEN && again) {
        const retry = () => this.#active && this.#migrate(token, deadlineAt, rebalance && rebalance + 1);
        this.#retryTimer = setTimeout(retry, this.#random() * (rebalance ? 50 : 250));
      } else if (this.#heldClose) {
        this.#moveLost();
      } else {
        this.#flush();
      }
    };
    next.onerror = abandon;
    next.onclose = abandon;
  }

  #switchTo(next: UnderlyingSocket, resumed: boolean, resumeError: string | undefined): void {
    const old = this.#active;
    this.#active = next;
    this.#currentUrl = this.#urls.get(next) ?? this.url;
    this.#next = undefined;
    this.#token = undefined;
    clearTimeout(this.#moveGraceTimer);
    this.#heldClose = undefined;
    this.#own(next);
    if (old) {
      // The old connection may still deliver what it had in flight (answers to earlier sends); dedupe drops
      // the overlap. Then it is let go with 1000, its close invisible to the app.
      old.onmessage = (({ data }) => {
        if (parseControl(data) === undefined) this.#deliver(data);
      }) satisfies MessageHandler;
      old.onclose = null;
      old.onerror = ignore;
      setTimeout(() => old.close(1000), this.#options.lingerMs ?? 1000);
    }
    this.#emit(new MigratedEvent(resumed, resumeError));
    this.#onWelcome(next, resumed, resumeError);
    for (const data of this.#nextBuffer) this.#deliver(data);
    this.#nextBuffer = [];
    this.#flush();
  }

  #flush(): void {
    const active = this.#active;
    while (active?.readyState === OPEN && !this.#next && this.#outbox.length > 0)
      active.send(this.#outbox.shift() as never);
  }

  #deliver(data: unknown): void {
    const dedupe = this.#options.dedupe;
    if (dedupe) {
      const id = dedupe(data);
      if (id !== undefined) {
        this.#ids ??= new Set();
        const ids = this.#ids;
        if (ids.has(id)) return;
        ids.add(id);
        if (ids.size > (this.#options.dedupeWindow ?? 4096)) ids.delete(ids.values().next().value as string | number);
      }
    }
    this.#emit(new BatonMessageEvent(data));
  }

  #abandonMove(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#moveGraceTimer);
    this.#heldClose = undefined;
    const next = this.#next;
    this.#next = undefined;
    if (next) {
      next.onclose = next.onmessage = null;
      // Not null: closing a socket that is still connecting makes `ws` emit an error, and an 'error' with no
      // listener would be thrown.
      next.onerror = ignore;
      next.close(1000);
    }
  }

  #scheduleReconnect(code: number): void {
    const delay = reconnectDelay(this.#attempt++, code, this.#options, this.#random);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    clearTimeout(this.#healthyTimer);
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#outbox.clear();
    this.#emit(new BatonCloseEvent(code, reason, wasClean));
  }

  #emit(event: Event): void {
    const handler = (this as unknown as Record<string, unknown>)[`on${event.type}`];
    if (typeof handler === 'function') handler.call(this, event);
    // Never-removed marks: a type whose listeners were all removed still dispatches (harmless, only slower).
    if (this.#listened & (EVENT_BITS[event.type] ?? ALL_EVENTS)) this.dispatchEvent(event);
  }
}
