// The pacing promise, checked the way it is made: the window is cut into one slot per connection and each
// connection gets a time inside its own slot (close-slots.ts), so the k-th event (in time order) lies in
// the k-th slot. Never earlier — the drain must not close before its time — and, give or take delivery and
// scheduling delay, not later. "Close everyone now" fails the lower bound; "close everyone at the end" fails
// the upper one.

import { expect } from 'vitest';

export interface SpreadCheck {
  /** Epoch ms of the window's start (e.g. the report's closingAt). */
  startAt: number;
  windowMs: number;
  /** How late an event may be seen after its slot ends: delivery to the client, timer and loop delay. */
  lateMs: number;
  /** How early an event may be seen before its slot starts: clock granularity between two Date.now(). */
  earlyMs?: number;
  /**
   * Slots in the plan, when `times` are only some of its connections (default: one per time). The k-th of a
   * subset then holds rank k … k + (slots − n) in the whole plan, and is checked against that range.
   */
  slots?: number;
}

export function expectSpread(
  times: readonly number[],
  { startAt, windowMs, lateMs, earlyMs = 5, slots = times.length }: SpreadCheck,
): void {
  // No events is no spread: a check over nothing would pass whatever the drain did.
  if (times.length === 0) expect.fail('expectSpread: no events to check (the drain closed nothing?)');
  if (times.length > slots) expect.fail(`expectSpread: ${times.length} events for ${slots} slots`);
  const sorted = [...times].sort((a, b) => a - b);
  const slotMs = windowMs / slots;
  const missing = slots - sorted.length;
  const offsets = sorted.map((at) => Math.round(at - startAt));
  for (let k = 0; k < sorted.length; k++) {
    const offset = offsets[k] as number;
    const earliest = k * slotMs;
    const latest = (k + missing + 1) * slotMs;
    const within = offset >= earliest - earlyMs && offset <= latest + lateMs;
    if (!within) {
      expect.fail(
        `event ${k + 1} of ${sorted.length} at +${offset} ms lies outside its slots [${Math.round(earliest)}, ${Math.round(latest)}] ms ` +
          `(window ${windowMs} ms; all offsets: ${offsets.join(', ')})`,
      );
    }
  }
}
