// The relay: a WebSocket server whose every client connection is carried upstream by a Baton client. The
// upstream opens first, inside ws's verifyClient (so drain-core's gate, composed in front of it, refuses
// upgrades during the relay's own drain before any upstream is opened); the client's handshake then completes
// with the subprotocol the gateway chose. After the handshakes the pair forwards bytes (ClientLink,
// UpstreamLink): no message is decoded but the gateway's control messages, and message ids in a move's overlap.
// Neither side negotiates permessage-deflate: a compressed frame carries its sender's compression context,
// which a move to a new gateway would not share, so frames cross unchanged only uncompressed. Attach
// drain-core to `relay.server` for the relay's own release.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BatonSocket, type SocketConstructor } from '@baton/client';
import { WebSocketServer } from 'ws';
import { ClientLink } from './client-link.js';
import { CLOSE_SERVICE_RESTART } from './close-codes.js';
import { RelayErrorCodes } from './errors.js';
import { moveOverlap } from './move-overlap.js';
import { type RelayOptions, type ResolvedRelayOptions, resolveRelayOptions, upstreamUrlFor } from './options.js';
import { emptyStats, type RelayStats } from './relay-stats.js';
import { RelayedConnection } from './relayed-connection.js';
import { UpstreamLink } from './upstream-link.js';

/** Subprotocols the relay speaks to the gateway itself; a client's offer of them is not passed on. */
const BATON_PROTOCOL = /^baton\./;

type VerifyDone = (result: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

export class Relay {
  readonly server: WebSocketServer;
  readonly stats: RelayStats = emptyStats();
  readonly #options: ResolvedRelayOptions;
  readonly #opening = new WeakMap<IncomingMessage, BatonSocket>();
  readonly #connections = new Set<RelayedConnection>();
  #closed = false;

  constructor(options: RelayOptions) {
    this.#options = resolveRelayOptions(options);
    this.server = new WebSocketServer({
      noServer: true,
      WebSocket: ClientLink,
      maxPayload: this.#options.maxPayload,
      perMessageDeflate: false,
      verifyClient: (info: { req: IncomingMessage }, done: VerifyDone) => this.#openUpstream(info.req, done),
      handleProtocols: (protocols, request) => {
        const chosen = this.#opening.get(request)?.protocol ?? '';
        return chosen !== '' && protocols.has(chosen) ? chosen : false;
      },
    });
    this.server.on('connection', (client, request) => this.#relay(client as ClientLink, request));
  }

  /** Hand an HTTP upgrade to the relay (from your server's 'upgrade' event). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(request, socket, head, (client) => this.server.emit('connection', client, request));
  }

  /** Bytes waiting in every relayed pair (client and upstream buffers). */
  get bufferedBytes(): number {
    let sum = 0;
    for (const connection of this.#connections) sum += connection.bufferedBytes;
    return sum;
  }

  #openUpstream(request: IncomingMessage, done: VerifyDone): void {
    if (this.#closed) return done(false, 503);
    const offered = String(request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '' && !BATON_PROTOCOL.test(p));
    const target = upstreamUrlFor(this.#options.upstream, request);
    const { messageId } = this.#options;
    const overlap = messageId ? moveOverlap(target, messageId) : undefined;
    const upstream = new BatonSocket(target, offered, {
      WebSocket: UpstreamLink as unknown as SocketConstructor,
      // Gone for good means gone: the client is told, and reconnects through the relay to a new upstream.
      maxRetries: 0,
      // What waits for the upstream during a move counts in its bufferedAmount, which stops reading the client
      // past maxBufferedBytes; messages ws had already read when the hold came may add one read's worth, and
      // one message may be maxPayload. Past this bound send() throws and the pair is closed (1008).
      maxQueuedBytes: 2 * this.#options.maxBufferedBytes + this.#options.maxPayload,
      ...overlap?.options,
      socketOptions: {
        headers: this.#forwardedHeaders(request),
        maxPayload: this.#options.maxPayload,
        // One message event per gateway message where ids are read, else runs of them.
        eachMessage: overlap !== undefined,
      },
    });
    if (overlap) upstream.addEventListener('migrated', overlap.switched);
    let settled = false;
    const settle = (accepted: boolean, code?: number, errorCode?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.socket.off('close', clientGone);
      if (accepted) return done(true);
      upstream.onopen = upstream.onclose = null;
      upstream.close();
      done(false, code, JSON.stringify({ error: { code: errorCode } }), { 'Content-Type': 'application/json' });
    };
    const timer = setTimeout(() => {
      this.stats.refused.upstreamTimeout++;
      settle(false, 504, RelayErrorCodes.UPSTREAM_TIMEOUT);
    }, this.#options.upstreamTimeoutMs);
    // The client gave up while the upstream was opening.
    const clientGone = () => settle(false);
    request.socket.once('close', clientGone);
    upstream.onopen = () => {
      this.#opening.set(request, upstream);
      settle(true);
      // ws drops a handshake whose socket closed meanwhile without a 'connection': close that upstream too.
      request.socket.once('close', () => {
        if (this.#opening.get(request) === upstream) {
          this.#opening.delete(request);
          upstream.close();
        }
      });
    };
    upstream.onclose = () => {
      this.stats.refused.upstreamRefused++;
      settle(false, 502, RelayErrorCodes.UPSTREAM_REFUSED);
    };
  }

  #forwardedHeaders(request: IncomingMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const name of this.#options.forwardHeaders) {
      const value = request.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const previous = request.headers['x-forwarded-for'];
    const peer = request.socket.remoteAddress ?? '';
    // As the first hop, what the client sent is its own claim: 'replace' drops it.
    headers['x-forwarded-for'] = previous && this.#options.forwardedFor === 'append' ? `${previous}, ${peer}` : peer;
    return headers;
  }

  #relay(client: ClientLink, request: IncomingMessage): void {
    const upstream = this.#opening.get(request);
    this.#opening.delete(request);
    if (!upstream) return client.terminate();
    this.stats.connections++;
    const connection = new RelayedConnection(client, upstream, this.#options.maxBufferedBytes, this.stats, (ended) => {
      if (this.#connections.delete(ended)) this.stats.connections--;
    });
    this.#connections.add(connection);
  }

  /** Close every relayed pair (1012 to the clients) and refuse new upgrades. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#connections]) connection.close(CLOSE_SERVICE_RESTART, 'relay closing');
    this.server.close();
  }
}
