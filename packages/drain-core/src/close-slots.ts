// Where in the drain window each connection is closed: the window is cut into one slot per connection and
// each connection gets a random point inside its own slot (stratified jitter). Unlike independent uniform
// times, this can never bunch closes: any one-second span holds at most ceil(rate) + 1 of them.

export interface SpreadOptions {
  /** Cap on closes per second for this pod; widens the slots when the window is too short. Default: no cap. */
  maxClosesPerSecond?: number;
  /** Share of each slot that is randomised, 0..1. 0 = slot centres, 1 = anywhere in the slot. Default 1. */
  jitter?: number;
  /** Uniform random in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * `count` offsets in ms from the window start, ascending. With a rate cap that the window cannot honour,
 * the later offsets fall past `windowMs`; the caller closes those at the window end.
 */
export function spreadOffsets(count: number, windowMs: number, options: SpreadOptions = {}): Float64Array {
  const offsets = new Float64Array(count);
  if (count === 0) return offsets;
  const jitter = options.jitter ?? 1;
  const random = options.random ?? Math.random;
  let slotMs = windowMs / count;
  const cap = options.maxClosesPerSecond;
  if (cap !== undefined && Number.isFinite(cap) && cap > 0) slotMs = Math.max(slotMs, 1000 / cap);
  for (let i = 0; i < count; i++) {
    offsets[i] = (i + 0.5 + (random() - 0.5) * jitter) * slotMs;
  }
  return offsets;
}

/** Fisher–Yates in place: which connection gets which slot must not depend on connection age. */
export function shuffle<T>(items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = items[i] as T;
    items[i] = items[j] as T;
    items[j] = swap;
  }
  return items;
}

export interface ClosingPlanOptions extends SpreadOptions {
  /** Time kept free at the window's end for the last hinted connections to move. Default 0. */
  hintLeadMs?: number;
}

/**
 * The whole closing plan: plain connections spread over the full window, hinted ones over the window less
 * the hint lead (a hint in the window's last milliseconds would leave no time to move), merged in time
 * order. A rate cap is shared between the two in proportion. `connections` should already be shuffled.
 */
export function buildClosingPlan<T>(
  connections: readonly T[],
  hinted: (connection: T) => boolean,
  windowMs: number,
  options: ClosingPlanOptions = {},
): { order: T[]; offsets: Float64Array } {
  const plain: T[] = [];
  const capable: T[] = [];
  for (const connection of connections) (hinted(connection) ? capable : plain).push(connection);
  const total = connections.length;
  const cap = options.maxClosesPerSecond;
  const share = (count: number) =>
    cap !== undefined && Number.isFinite(cap) && total > 0 ? (cap * count) / total : undefined;
  const leadMs = Math.min(options.hintLeadMs ?? 0, windowMs);
  const plainOffsets = spreadOffsets(plain.length, windowMs, { ...options, maxClosesPerSecond: share(plain.length) });
  const capableOffsets = spreadOffsets(capable.length, windowMs - leadMs, {
    ...options,
    maxClosesPerSecond: share(capable.length),
  });
  const order: T[] = new Array(total);
  const offsets = new Float64Array(total);
  let p = 0;
  let c = 0;
  for (let i = 0; i < total; i++) {
    if (c >= capable.length || (p < plain.length && (plainOffsets[p] as number) <= (capableOffsets[c] as number))) {
      order[i] = plain[p] as T;
      offsets[i] = plainOffsets[p++] as number;
    } else {
      order[i] = capable[c] as T;
      offsets[i] = capableOffsets[c++] as number;
    }
  }
  return { order, offsets };
}
