import { describe, expect, it } from 'vitest';
import { buildClosingPlan, shuffle, spreadOffsets } from '../src/close-slots.js';

function maxInAnySecond(offsets: Float64Array): number {
  // Sliding one-second window over sorted offsets.
  let max = 0;
  let start = 0;
  for (let end = 0; end < offsets.length; end++) {
    while ((offsets[end] as number) - (offsets[start] as number) >= 1000) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

describe('spreadOffsets', () => {
  it('spreads evenly: any one-second span holds at most ceil(rate) + 1 closes', () => {
    for (const [count, windowMs] of [
      [1000, 10_000],
      [20_000, 60_000],
      [7, 3_000],
      [333, 1_000],
    ] as const) {
      const offsets = spreadOffsets(count, windowMs);
      const rate = count / (windowMs / 1000);
      expect(offsets.length).toBe(count);
      expect(maxInAnySecond(offsets)).toBeLessThanOrEqual(Math.ceil(rate) + 1);
      expect(offsets[0]).toBeGreaterThanOrEqual(0);
      expect(offsets[count - 1]).toBeLessThanOrEqual(windowMs);
      for (let i = 1; i < count; i++) expect(offsets[i]).toBeGreaterThanOrEqual(offsets[i - 1] as number);
    }
  });

  it('puts every close at its slot centre with jitter 0', () => {
    expect([...spreadOffsets(4, 1000, { jitter: 0 })]).toEqual([125, 375, 625, 875]);
  });

  it('uses the whole slot with jitter 1', () => {
    expect([...spreadOffsets(2, 1000, { random: () => 0 })]).toEqual([0, 500]);
    expect([...spreadOffsets(2, 1000, { random: () => 0.999 })].map(Math.round)).toEqual([500, 1000]);
  });

  it('honours maxClosesPerSecond by widening slots past the window', () => {
    const offsets = spreadOffsets(100, 1000, { maxClosesPerSecond: 10, jitter: 0 });
    expect(offsets[1]! - offsets[0]!).toBe(100);
    expect(offsets[99]).toBeGreaterThan(1000);
    expect(maxInAnySecond(offsets)).toBeLessThanOrEqual(10);
  });

  it('returns nothing for no connections', () => {
    expect(spreadOffsets(0, 1000).length).toBe(0);
  });
});

describe('shuffle', () => {
  it('keeps every item exactly once', () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const shuffled = shuffle([...items]);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
  });
});

describe('buildClosingPlan', () => {
  const connections = Array.from({ length: 1000 }, (_, i) => ({ id: i, capable: i % 3 === 0 }));

  it('merges plain connections over the full window and hinted ones over the window less the lead, in time order', () => {
    const { order, offsets } = buildClosingPlan(connections, (c) => c.capable, 10_000, { hintLeadMs: 1_000 });
    expect(order).toHaveLength(1000);
    expect(new Set(order.map((c) => c.id)).size).toBe(1000);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThanOrEqual(offsets[i - 1] as number);
    const capableLatest = Math.max(...order.map((c, i) => (c.capable ? (offsets[i] as number) : 0)));
    const plainLatest = Math.max(...order.map((c, i) => (c.capable ? 0 : (offsets[i] as number))));
    expect(capableLatest).toBeLessThanOrEqual(9_000);
    expect(plainLatest).toBeGreaterThan(9_000);
    // Each part is stratified on its own: at most ceil(rate) + 1 per second each (666 plain over 10 s,
    // 334 hinted over 9 s).
    expect(maxInAnySecond(offsets)).toBeLessThanOrEqual(Math.ceil(666 / 10) + 1 + Math.ceil(334 / 9) + 1);
  });

  it('shares a rate cap between the two parts', () => {
    const { offsets } = buildClosingPlan(connections, (c) => c.capable, 1_000, {
      hintLeadMs: 100,
      maxClosesPerSecond: 100,
      jitter: 0,
    });
    expect(maxInAnySecond(offsets)).toBeLessThanOrEqual(101);
  });

  it('is the plain spread when nothing is hinted', () => {
    const { offsets } = buildClosingPlan(connections, () => false, 10_000, { hintLeadMs: 1_000, jitter: 0 });
    expect([...offsets]).toEqual([...spreadOffsets(1000, 10_000, { jitter: 0 })]);
  });
});
