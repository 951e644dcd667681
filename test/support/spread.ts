// The pacing promise, checked the way it is made: the window is cut into one slot per connection and each
// connection gets a time inside its own slot (close-schedule.ts), so the k-th event (in time order) lies in
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
}

export function expectSpread(times: readonly number[], { startAt, windowMs, lateMs, earlyMs = 5 }: SpreadCheck): void {
  const sorted = [...times].sort((a, b) => a - b);
  const slotMs = windowMs / sorted.length;
  const offsets = sorted.map((at) => Math.round(at - startAt));
  for (let k = 0; k < sorted.length; k++) {
    const offset = offsets[k] as number;
    const within = offset >= k * slotMs - earlyMs && offset <= (k + 1) * slotMs + lateMs;
    if (!within) {
      expect.fail(
        `event ${k + 1} of ${sorted.length} at +${offset} ms lies outside its slot [${Math.round(k * slotMs)}, ${Math.round((k + 1) * slotMs)}] ms ` +
          `(window ${windowMs} ms; all offsets: ${offsets.join(', ')})`,
      );
    }
  }
}
