// Sends made while there is no open connection to take them (a move's switch, a reconnect) wait here, in
// order. They count in the socket's bufferedAmount, as a WebSocket counts what send() queued and the network
// has not taken yet, so a sender that watches bufferedAmount (the relay's backpressure) holds off during a move;
// and the queue is bounded, so one that does not watch gets an error instead of unbounded memory.

/** The code of the error send() throws when the queue would pass `maxQueuedBytes`. */
export const QUEUE_FULL = 'BATON_ERR_QUEUE_FULL';

/** Thrown by send() when a message would take the waiting sends past `maxQueuedBytes`; nothing was queued. */
export class QueueFullError extends Error {
  readonly code = QUEUE_FULL;
  constructor(maxBytes: number) {
    super(
      `${QUEUE_FULL}: sends waiting for a connection would pass maxQueuedBytes (${maxBytes}); wait until bufferedAmount drops.`,
    );
    this.name = 'QueueFullError';
  }
}

export class SendQueue<T> {
  readonly #items: T[] = [];
  readonly #sizes: number[] = [];
  readonly #maxBytes: number;
  bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#items.length;
  }

  push(data: T): void {
    const size = byteSize(data);
    if (this.bytes + size > this.#maxBytes) throw new QueueFullError(this.#maxBytes);
    this.#items.push(data);
    this.#sizes.push(size);
    this.bytes += size;
  }

  shift(): T | undefined {
    this.bytes -= this.#sizes.shift() ?? 0;
    return this.#items.shift();
  }

  clear(): void {
    this.#items.length = 0;
    this.#sizes.length = 0;
    this.bytes = 0;
  }
}

/** Bytes a message takes on the wire: UTF-8 for text, byteLength or size for binary. */
function byteSize(data: unknown): number {
  if (typeof data === 'string') {
    let bytes = data.length;
    for (let i = 0; i < data.length; i++) {
      const unit = data.charCodeAt(i);
      // 2 bytes below U+0800, 3 above; a surrogate pair (two units) is 4.
      if (unit >= 0x80) bytes += unit >= 0x800 && (unit < 0xd800 || unit > 0xdfff) ? 2 : 1;
    }
    return bytes;
  }
  const sized = data as { byteLength?: unknown; size?: unknown } | null;
  if (typeof sized?.byteLength === 'number') return sized.byteLength;
  if (typeof sized?.size === 'number') return sized.size;
  return 0;
}
