import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LoopInterval, pooledPercentile } from '../src/report/loop-delay.js';

/** The smallest sample v with at least p % of the samples ≤ v (what a histogram reports as its p-th percentile). */
function exactPercentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[index] as number;
}

/** An interval as a pod logs it (examples/gateway-common/loop-stats.js): its count and these percentiles. */
function intervalOf(samples: number[]): LoopInterval {
  const ticks = [50, 90, 95, 98, 99, 99.5, 99.9, 100];
  return { count: samples.length, cdf: ticks.map((p) => [p, exactPercentile(samples, p)] as [number, number]) };
}

describe('pooledPercentile', () => {
  it('is the p99 of the union, not the worst interval p99: one bad second among many quiet ones', () => {
    const quiet = Array.from({ length: 30 }, () => intervalOf(Array.from({ length: 100 }, (_, i) => 0.1 + i / 1000)));
    // One second with five 25 ms stalls: its own p99 is 25 ms.
    const bad = intervalOf([...Array.from({ length: 95 }, () => 0.2), 25, 25, 25, 25, 25]);
    expect(bad.cdf.find(([p]) => p === 99)?.[1]).toBe(25);
    // 5 of 3,100 samples (0.16 %) exceed 0.2 ms: the pooled p99 is at most 0.2 ms, far below the bad second's.
    expect(pooledPercentile([...quiet, bad])).toBeLessThanOrEqual(0.2);
    expect(pooledPercentile([...quiet, bad])).toBeGreaterThan(0.1);
  });

  it('is never below the true p99 of the union, nor above the worst interval p99 (property)', () => {
    const interval = fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(fc.array(interval, { minLength: 1, maxLength: 8 }), (sampleSets) => {
        const union = sampleSets.flat();
        const bound = pooledPercentile(sampleSets.map(intervalOf));
        expect(bound).toBeGreaterThanOrEqual(exactPercentile(union, 99));
        expect(bound).toBeLessThanOrEqual(Math.max(...union));
        // And never above the worst interval's own p99: pooling only tightens.
        expect(bound).toBeLessThanOrEqual(Math.max(...sampleSets.map((samples) => exactPercentile(samples, 99))));
      }),
      { numRuns: 500 },
    );
  });

  it('is 0 without samples', () => {
    expect(pooledPercentile([])).toBe(0);
    expect(pooledPercentile([{ count: 0, cdf: [] }])).toBe(0);
  });
});
