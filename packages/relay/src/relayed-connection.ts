// One client and its upstream, as bytes: the client's whole messages go to the gateway as they came (masked by
// the client), the gateway's to the client as they came; a text message stays text, a binary one binary,
// because nothing is re-encoded. Closes are forwarded by cause, buffers are bounded. The upstream is a
// BatonSocket over an UpstreamLink, so a gateway's reconnect hint moves it make-before-break while the client
// sees nothing; the client's messages sent during a move are held by the BatonSocket and go out in order
// after it.

import type { BatonSocket } from '@baton/client';
import type { ClientLink } from './client-link.js';
import { CLOSE_POLICY, clientCodeForUpstreamClose, upstreamCodeForClientClose } from './close-codes.js';
import { RelayErrorCodes } from './errors.js';
import type { RelayStats } from './relay-stats.js';

/** How often a paused reader is checked against the buffer it waits on (no drain event crosses BatonSocket). */
const PRESSURE_CHECK_MS = 10;

/**
 * Backpressure for one direction: stop reading a source (TCP then pushes back on its peer) until the bytes
 * waiting on the other side drop to a level, checked every PRESSURE_CHECK_MS.
 */
class ReadHold {
  #timer: ReturnType<typeof setInterval> | undefined;

  get active(): boolean {
    return this.#timer !== undefined;
  }

  start(source: { pause(): void; resume(): void }, waiting: () => number, resumeAt: number): void {
    source.pause();
    this.#timer = setInterval(() => {
      if (waiting() > resumeAt) return;
      this.stop();
      source.resume();
    }, PRESSURE_CHECK_MS);
  }

  /** Forget the hold without resuming (the pair ended). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export class RelayedConnection {
  readonly #client: ClientLink;
  readonly #upstream: BatonSocket;
  readonly #maxBufferedBytes: number;
  readonly #stats: RelayStats;
  readonly #onEnd: (connection: RelayedConnection) => void;
  /** The client is not read while the gateway's buffer is full, and the gateway while the client's is. */
  readonly #clientHold = new ReadHold();
  readonly #upstreamHold = new ReadHold();
  #ended = false;

  constructor(
    client: ClientLink,
    upstream: BatonSocket,
    maxBufferedBytes: number,
    stats: RelayStats,
    onEnd: (connection: RelayedConnection) => void,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#stats = stats;
    this.#onEnd = onEnd;
    client.on('close', (code: number, reason: Buffer) => this.#clientClosed(code, reason.toString()));
    client.relayTo(this);
    // Only the gateway's frames reach here: its control messages were taken by the BatonSocket.
    upstream.onmessage = (event) => this.#fromUpstream(event.data as Buffer);
    upstream.addEventListener('migrated', () => this.#stats.moves++);
    upstream.onclose = (event) => this.#upstreamClosed(event.code, event.reason);
  }

  /** Bytes waiting in this pair's two sockets. */
  get bufferedBytes(): number {
    return this.#client.bufferedAmount + this.#upstream.bufferedAmount;
  }

  /** Whole messages from the client, as their frames came (ClientLink). */
  fromClient(bytes: Buffer): void {
    if (this.#ended) return;
    try {
      this.#upstream.send(bytes);
    } catch {
      // The upstream's queue is full (QueueFullError): the hold below did not keep up. A clear close, not memory.
      this.#stats.refused.clientTooFast++;
      this.#end();
      this.#client.close(
        CLOSE_POLICY,
        `${RelayErrorCodes.CLIENT_TOO_FAST}: client sends faster than its gateway takes`,
      );
      this.#upstream.close();
      return;
    }
    // bufferedAmount counts what waits for a move to finish too, so a client sending during a move is held here.
    if (this.#upstream.bufferedAmount > this.#maxBufferedBytes && !this.#clientHold.active) {
      // The upstream is slower than the client: stop reading the client until the upstream's buffer is half empty.
      this.#stats.clientPauses++;
      this.#clientHold.start(this.#client, () => this.#upstream.bufferedAmount, this.#maxBufferedBytes / 2);
    }
  }

  #fromUpstream(bytes: Buffer): void {
    if (this.#ended) return;
    this.#client.forward(bytes);
    const buffered = this.#client.bufferedAmount;
    if (buffered > this.#maxBufferedBytes / 2 && buffered <= this.#maxBufferedBytes && !this.#upstreamHold.active) {
      // The client reads slower than the gateway sends: stop reading the gateway until a quarter of the bound is
      // left, instead of buffering without end.
      this.#stats.upstreamPauses++;
      this.#upstreamHold.start(this.#upstream, () => this.#client.bufferedAmount, this.#maxBufferedBytes / 4);
    }
    if (buffered > this.#maxBufferedBytes) {
      // Over the bound even so (one message larger than what is left of it, or the gateway's messages already
      // read when the pause came): a clear close instead of unbounded memory.
      this.#stats.refused.clientTooSlow++;
      this.#end();
      this.#client.close(CLOSE_POLICY, `${RelayErrorCodes.CLIENT_TOO_SLOW}: client reads too slowly`);
      this.#upstream.close();
      // A client that stopped reading may never answer the close handshake either.
      setTimeout(() => this.#client.terminate(), 5_000).unref();
    }
  }

  #clientClosed(code: number, reason: string): void {
    if (this.#end()) this.#upstream.close(upstreamCodeForClientClose(code), reason);
  }

  /** The upstream is gone for good (a failed move, a crash): the client learns it with the cause's code. */
  #upstreamClosed(code: number, reason: string): void {
    if (!this.#end()) return;
    this.#stats.upstreamLost++;
    this.#client.close(clientCodeForUpstreamClose(code), reason);
  }

  /** Idempotent end; true the first time. */
  #end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.#clientHold.stop();
    this.#upstreamHold.stop();
    this.#onEnd(this);
    return true;
  }

  /** Close both sides (the relay's close()). */
  close(code: number, reason: string): void {
    if (!this.#end()) return;
    this.#client.close(code, reason);
    this.#upstream.close(upstreamCodeForClientClose(code), reason);
  }
}
