// The p99 of event-loop delay over a whole storm, from the pods' per-interval `loop` lines. Percentiles of
// intervals cannot be averaged or maxed into the p99 of their union: the worst interval's p99 is nearly its
// maximum (a second holds ~100 samples at a 10 ms resolution), and the mean of p99s means nothing. Each line
// carries its sample count and its histogram's (percentile, delay) points, which bound its distribution.

/** One interval of one pod: how many samples, and (percentile 0–100, delay ms) points of their distribution. */
export interface LoopInterval {
  count: number;
  cdf: [number, number][];
}

/**
 * An upper bound on the `percentile` of all the intervals' samples together: the smallest listed delay d such
 * that at most (100 − percentile) % of all samples can exceed d. Within an interval the share of samples at or
 * below d is at least the highest listed percentile whose delay is ≤ d, so the bound never flatters; it is
 * exact at the listed points (a histogram's own percentile values).
 */
export function pooledPercentile(intervals: LoopInterval[], percentile = 99): number {
  const used = intervals.filter((interval) => interval.count > 0 && interval.cdf.length > 0);
  const total = used.reduce((sum, interval) => sum + interval.count, 0);
  if (total === 0) return 0;
  const allowedAbove = total * (1 - percentile / 100);
  const candidates = [...new Set(used.flatMap((interval) => interval.cdf.map(([, delay]) => delay)))].sort(
    (a, b) => a - b,
  );
  for (const delay of candidates) {
    let above = 0;
    for (const { count, cdf } of used) {
      let share = 0;
      for (const [p, value] of cdf) if (value <= delay && p / 100 > share) share = p / 100;
      above += count * (1 - share);
    }
    // A small tolerance for the binary fractions of the percentile points (99.21875 …).
    if (above <= allowedAbove + 1e-9) return delay;
  }
  return candidates[candidates.length - 1] as number;
}
