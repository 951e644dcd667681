// One client and its upstream, as bytes: the client's whole messages go to the gateway as they came (masked by
// the client), the gateway's to the client as they came; a text message stays text, a binary one binary,
// because nothing is re-encoded. Closes are forwarded by cause, buffers are bounded. The upstream is an
// UpstreamMover, so a gateway's reconnect hint moves it make-before-break while the client sees nothing; the
// client's messages sent during a move are held by the mover and go out in order after it.

import type { ClientLink, ClientMessages } from './client-link.js';
import { CLOSE_POLICY, clientCodeForUpstreamClose, upstreamCodeForClientClose } from './close-codes.js';
import { RelayErrorCodes } from './errors.js';
import type { RelayStats } from './relay-stats.js';
import type { UpstreamEvents, UpstreamMover } from './upstream-mover.js';

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

/** What every pair of a relay shares. */
export interface PairSettings {
  readonly maxBufferedBytes: number;
  readonly stats: RelayStats;
  /**
   * The gateway's messages come one at a time (ids are read): cork the client so that those of one read leave in
   * one write. Otherwise they come as one run of bytes per read already.
   */
  readonly cork: boolean;
  /**
   * maxBufferedBytes / 2 is above a socket's high-water mark (16 KiB), so a write() that answered true left the
   * buffer below every bound checked here: nothing to check (the common case, read without a getter).
   */
  readonly highWaterBelowBound: boolean;
  /** The pair ended (called once). */
  ended(connection: RelayedConnection): void;
}

export class RelayedConnection implements ClientMessages, UpstreamEvents {
  readonly #client: ClientLink;
  readonly #upstream: UpstreamMover;
  readonly #settings: PairSettings;
  /**
   * The client is not read while the gateway's buffer is full, and the gateway while the client's is. Made on
   * first use: most pairs never need one (memory per idle connection is a benchmarked goal).
   */
  #clientHold: ReadHold | undefined;
  #upstreamHold: ReadHold | undefined;
  #ended = false;

  constructor(client: ClientLink, upstream: UpstreamMover, settings: PairSettings) {
    this.#client = client;
    this.#upstream = upstream;
    this.#settings = settings;
    client.relayTo(this);
    upstream.relayTo(this);
  }

  /** Bytes waiting in this pair's two sockets. */
  get bufferedBytes(): number {
    return this.#client.bufferedAmount + this.#upstream.bufferedAmount;
  }

  /** Whole messages from the client, as their frames came (ClientLink). */
  fromClient(bytes: Buffer): void {
    if (this.#ended) return;
    const { maxBufferedBytes, stats } = this.#settings;
    let belowHighWater: boolean;
    try {
      belowHighWater = this.#upstream.send(bytes);
    } catch {
      // What waits for the upstream passed its bound: the hold below did not keep up. A clear close, not memory.
      stats.refused.clientTooFast++;
      this.#end();
      this.#client.close(
        CLOSE_POLICY,
        `${RelayErrorCodes.CLIENT_TOO_FAST}: client sends faster than its gateway takes`,
      );
      this.#upstream.close();
      return;
    }
    // Below the socket's high-water mark (write()'s answer) nothing can pass a bound that is at least twice it.
    if (belowHighWater && this.#settings.highWaterBelowBound) return;
    // bufferedAmount counts what waits for a move to finish too, so a client sending during a move is held here.
    if (this.#upstream.bufferedAmount > maxBufferedBytes && !this.#clientHold?.active) {
      // The upstream is slower than the client: stop reading the client until the upstream's buffer is half empty.
      stats.clientPauses++;
      this.#clientHold ??= new ReadHold();
      this.#clientHold.start(this.#client, () => this.#upstream.bufferedAmount, maxBufferedBytes / 2);
    }
  }

  /** The gateway's whole messages, as their frames came (its control messages were taken by the mover). */
  upstreamMessages(bytes: Buffer): void {
    if (this.#ended) return;
    const { maxBufferedBytes, stats } = this.#settings;
    if (this.#client.forward(bytes, this.#settings.cork) && this.#settings.highWaterBelowBound) return;
    const buffered = this.#client.bufferedAmount;
    if (buffered > maxBufferedBytes / 2 && buffered <= maxBufferedBytes && !this.#upstreamHold?.active) {
      // The client reads slower than the gateway sends: stop reading the gateway until a quarter of the bound is
      // left, instead of buffering without end.
      stats.upstreamPauses++;
      this.#upstreamHold ??= new ReadHold();
      this.#upstreamHold.start(this.#upstream, () => this.#client.bufferedAmount, maxBufferedBytes / 4);
    }
    if (buffered > maxBufferedBytes) {
      // Over the bound even so (one message larger than what is left of it, or the gateway's messages already
      // read when the pause came): a clear close instead of unbounded memory.
      stats.refused.clientTooSlow++;
      this.#end();
      this.#client.close(CLOSE_POLICY, `${RelayErrorCodes.CLIENT_TOO_SLOW}: client reads too slowly`);
      this.#upstream.close();
      // A client that stopped reading may never answer the close handshake either.
      setTimeout(() => this.#client.terminate(), 5_000).unref();
    }
  }

  upstreamOpened(): void {
    // The pair is made after the upstream opened.
  }

  upstreamMoved(): void {
    this.#settings.stats.moves++;
  }

  /** The client closed (ClientLink): the gateway gets the client's code. */
  clientClosed(code: number, reason: string): void {
    if (this.#end()) this.#upstream.close(upstreamCodeForClientClose(code), reason);
  }

  /** The upstream is gone for good (a failed move, a crash): the client learns it with the cause's code. */
  upstreamClosed(code: number, reason: string): void {
    if (!this.#end()) return;
    this.#settings.stats.upstreamLost++;
    this.#client.close(clientCodeForUpstreamClose(code), reason);
  }

  /** Idempotent end; true the first time. */
  #end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.#clientHold?.stop();
    this.#upstreamHold?.stop();
    this.#settings.ended(this);
    return true;
  }

  /** Close both sides (the relay's close()). */
  close(code: number, reason: string): void {
    if (!this.#end()) return;
    this.#client.close(code, reason);
    this.#upstream.close(upstreamCodeForClientClose(code), reason);
  }
}
