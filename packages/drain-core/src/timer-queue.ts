// One timer and an ordered queue (a binary min-heap) instead of a timer per connection: scheduling 100k
// closes costs 100k heap pushes and one armed timer, and each wake-up runs a bounded batch so a burst of due
// work never blocks the event loop for long.

export interface TimerQueueOptions<T> {
  /** Called for each due item, in time order. Exceptions are reported to onError and do not stop the queue. */
  run: (item: T) => void;
  onError?: (error: unknown) => void;
  /** Monotonic clock in ms. Default performance.now. */
  now?: () => number;
  /** Most items run per wake-up before yielding to the event loop. Default 256. */
  batchLimit?: number;
}

interface Entry<T> {
  at: number;
  seq: number;
  item: T;
}

export class TimerQueue<T> {
  readonly #heap: Entry<T>[] = [];
  readonly #run: (item: T) => void;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  readonly #batchLimit: number;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #armedAt = Number.POSITIVE_INFINITY;

  constructor(options: TimerQueueOptions<T>) {
    this.#run = options.run;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => performance.now());
    this.#batchLimit = options.batchLimit ?? 256;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Run `item` at monotonic time `at` (ms, same clock as `now`). Items due at the same time run in insertion order. */
  schedule(at: number, item: T): void {
    const entry: Entry<T> = { at, seq: this.#seq++, item };
    const heap = this.#heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = heap[parent] as Entry<T>;
      if (!before(entry, above)) break;
      heap[index] = above;
      index = parent;
    }
    heap[index] = entry;
    if (at < this.#armedAt && this.#immediate === undefined) this.#arm();
  }

  /** Drop everything and disarm. The queue stays usable. */
  clear(): void {
    this.#heap.length = 0;
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const first = this.#heap[0];
    if (first === undefined) {
      this.#armedAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.#armedAt = first.at;
    const delay = Math.max(0, Math.ceil(first.at - this.#now()));
    // Unref: a pending close must never be the only thing keeping a process alive.
    this.#timer = setTimeout(this.#wake, delay);
    this.#timer.unref?.();
  }

  readonly #wake = (): void => {
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    let ran = 0;
    while (ran < this.#batchLimit) {
      const first = this.#heap[0];
      // setTimeout measures from the loop's cached time and can fire up to 1 ms early by performance.now:
      // nothing runs before its time, the queue just re-arms for the rest.
      if (first === undefined || first.at > now) break;
      this.#pop();
      ran++;
      try {
        this.#run(first.item);
      } catch (error) {
        this.#onError(error);
      }
    }
    const next = this.#heap[0];
    if (next === undefined) return;
    if (ran === this.#batchLimit && next.at <= now) {
      // More is due: yield to I/O, then continue.
      this.#immediate = setImmediate(this.#wake);
      this.#immediate.unref?.();
    } else {
      this.#arm();
    }
  };

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop() as Entry<T>;
    if (heap.length === 0) return;
    let index = 0;
    const length = heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && before(heap[right] as Entry<T>, heap[left] as Entry<T>)) child = right;
      const candidate = heap[child] as Entry<T>;
      if (!before(candidate, last)) break;
      heap[index] = candidate;
      index = child;
    }
    heap[index] = last;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
