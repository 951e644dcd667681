// The relay: a WebSocket server whose every client connection is carried upstream by a Baton client. The
// upstream opens first, inside ws's verifyClient (so drain-core's gate, composed in front of it, refuses
// upgrades during the relay's own drain before any upstream is opened); the client's handshake then completes
// with the subprotocol the gateway chose. After the handshakes the pair forwards bytes (ClientLink,
// UpstreamLink): no message is decoded but the gateway's control messages, and message ids in a move's overlap.
// Neither side negotiates permessage-deflate: a compressed frame carries its sender's compression context,
// which a move to a new gateway would not share, so frames cross unchanged only uncompressed. Attach
// drain-core to `relay.server` for the relay's own release.

import type { IncomingMessage } from 'node:http';
import { type Duplex, getDefaultHighWaterMark } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ClientLink } from './client-link.js';
import { CLOSE_SERVICE_RESTART } from './close-codes.js';
import { RelayErrorCodes } from './errors.js';
import { type RelayOptions, type ResolvedRelayOptions, resolveRelayOptions, upstreamUrlFor } from './options.js';
import { emptyStats, type RelayStats } from './relay-stats.js';
import { type PairSettings, RelayedConnection } from './relayed-connection.js';
import { endpointOf, type UpstreamEndpoint, upgradeRequestHead } from './upstream-link.js';
import { type MoverSettings, type UpstreamEvents, UpstreamMover } from './upstream-mover.js';

/** Subprotocols the relay speaks to the gateway itself; a client's offer of them is not passed on. */
const BATON_PROTOCOL = /^baton\./;

/** What most clients offer besides Baton's: nothing (one array for all of them). */
const NO_PROTOCOLS: readonly string[] = Object.freeze([]);

type VerifyDone = (result: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

export class Relay {
  readonly server: WebSocketServer;
  readonly stats: RelayStats = emptyStats();
  readonly #options: ResolvedRelayOptions;
  /** Upstreams open whose client's handshake has not completed yet. */
  readonly #opening = new WeakMap<IncomingMessage, { upstream: UpstreamMover; dropped: () => void }>();
  readonly #connections = new Set<RelayedConnection>();
  // Shared by every pair, link and splitter, so that a pair holds no copy of them.
  readonly #endpoint: UpstreamEndpoint;
  readonly #moverSettings: MoverSettings;
  readonly #pairSettings: PairSettings;
  #closed = false;

  constructor(options: RelayOptions) {
    this.#options = resolveRelayOptions(options);
    const { maxPayload, maxBufferedBytes, messageId } = this.#options;
    this.#endpoint = endpointOf(this.#options.upstream, {
      masked: false,
      maxPayload,
      // One message at a time where ids are read, else runs of them.
      eachMessage: messageId !== undefined,
      reserveControl: true,
    });
    this.#moverSettings = {
      // What waits for the upstream during a move counts in its bufferedAmount, which stops reading the client
      // past maxBufferedBytes; the messages one read brought when the hold came may add that read's worth, and
      // one message may be maxPayload. Past this bound the pair is closed (1008).
      maxHeldBytes: 2 * maxBufferedBytes + maxPayload,
      messageId,
    };
    this.#pairSettings = {
      maxBufferedBytes,
      cork: messageId !== undefined,
      // Sockets' writable high-water mark is the stream default (16 KiB on Node 20, 64 KiB from Node 22).
      highWaterBelowBound: maxBufferedBytes / 2 > getDefaultHighWaterMark(false),
      stats: this.stats,
      ended: (connection) => {
        if (this.#connections.delete(connection)) this.stats.connections--;
      },
    };
    this.server = new WebSocketServer({
      noServer: true,
      WebSocket: ClientLink,
      // The relay keeps its own set of pairs; ws's would cost a listener per client.
      clientTracking: false,
      // The relay answers a client's pings itself (ClientLink), at a frame boundary.
      autoPong: false,
      maxPayload: this.#options.maxPayload,
      perMessageDeflate: false,
      verifyClient: (info: { req: IncomingMessage }, done: VerifyDone) => this.#openUpstream(info.req, done),
      handleProtocols: (protocols, request) => {
        const chosen = this.#opening.get(request)?.upstream.protocol ?? '';
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
    const requestHead = upgradeRequestHead(
      this.#endpoint,
      upstreamUrlFor(this.#options.upstream, request),
      this.#forwardedHeaders(request),
    );
    let settled = false;
    const settle = (accepted: boolean, code?: number, errorCode?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.socket.off('close', clientGone);
      if (accepted) return done(true);
      upstream.close();
      done(false, code, JSON.stringify({ error: { code: errorCode } }), { 'Content-Type': 'application/json' });
    };
    // Until the pair is made (relayTo), the mover reports here; it reads nothing from the gateway meanwhile.
    const opening: UpstreamEvents = {
      upstreamOpened: () => {
        // ws drops a handshake whose socket closed meanwhile without a 'connection': close that upstream too.
        const dropped = () => {
          if (this.#opening.get(request)?.upstream !== upstream) return;
          this.#opening.delete(request);
          upstream.close();
        };
        this.#opening.set(request, { upstream, dropped });
        request.socket.once('close', dropped);
        settle(true);
      },
      upstreamClosed: () => {
        if (settled) return;
        this.stats.refused.upstreamRefused++;
        settle(false, 502, RelayErrorCodes.UPSTREAM_REFUSED);
      },
      upstreamMessages: () => {},
      upstreamMoved: () => {},
    };
    const upstream = new UpstreamMover(
      this.#endpoint,
      requestHead,
      offered.length > 0 ? offered : NO_PROTOCOLS,
      this.#moverSettings,
      opening,
    );
    const timer = setTimeout(() => {
      this.stats.refused.upstreamTimeout++;
      settle(false, 504, RelayErrorCodes.UPSTREAM_TIMEOUT);
    }, this.#options.upstreamTimeoutMs);
    // The client gave up while the upstream was opening.
    const clientGone = () => settle(false);
    request.socket.once('close', clientGone);
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
    const opening = this.#opening.get(request);
    this.#opening.delete(request);
    if (!opening) return client.terminate();
    request.socket.off('close', opening.dropped);
    const { upstream } = opening;
    this.stats.connections++;
    this.#connections.add(new RelayedConnection(client, upstream, this.#pairSettings));
  }

  /** Close every relayed pair (1012 to the clients) and refuse new upgrades. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#connections]) connection.close(CLOSE_SERVICE_RESTART, 'relay closing');
    this.server.close();
  }
}
