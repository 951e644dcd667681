// @ts-check
// BATON_LOOP_STATS_MS: log the event loop's delay (p99 and max, ms) every that many ms, for the release lab's
// unplanned-failure rows (how a survivor's loop fares while its dead peer's clients reconnect, and how many it
// accepted in each interval: admission control's effect). Off when unset.

import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;
const CDF_POINTS = [50, 90, 95, 98, 99, 99.5, 99.9, 100];

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {{ info: (object: Record<string, unknown>, msg: string) => void }} logger
 * @param {{ on(event: 'connection', listener: () => void): unknown }} drain the gateway's DrainController: each
 *   line says how many connections it accepted in the interval (its listener is added only when stats are on)
 */
export function startLoopStats(env, logger, drain) {
  const intervalMs = Number(env.BATON_LOOP_STATS_MS);
  if (!env.BATON_LOOP_STATS_MS || !Number.isFinite(intervalMs) || intervalMs < 10) return;
  let acceptedSoFar = 0;
  drain.on('connection', () => {
    acceptedSoFar++;
  });
  const accepted = () => acceptedSoFar;
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // The histogram records the time between its timer's firings, resolution included (an idle loop reads
  // ~10 ms at resolution 10): the delay is what exceeds the resolution, as @fastify/under-pressure reads it.
  const delayMs = (/** @type {number} */ nanoseconds) => Math.max(0, nanoseconds / 1e6 - RESOLUTION_MS);
  let acceptedBefore = accepted();
  let intervalStart = performance.now();
  setInterval(() => {
    const acceptedNow = accepted();
    // A loaded loop fires this late: the line says how long its interval really was (never shorter than asked),
    // so that a rate read from it is per interval asked for (an interval 10 % late may hold 10 % more accepts).
    const now = performance.now();
    const elapsedMs = now - intervalStart;
    intervalStart = now;
    const p99Ms = delayMs(histogram.percentile(99));
    // The interval's distribution as (percentile, delay) points and its sample count, so that the lab can
    // bound the p99 of a whole storm across intervals and pods (percentiles of intervals do not add up).
    // Fixed points around the p99 (the histogram's own ticks jump from 98.4 to 99.2, too coarse for a pooled p99).
    const cdf = CDF_POINTS.map((percentile) => [percentile, delayMs(histogram.percentile(percentile))]);
    logger.info(
      {
        p99Ms,
        maxMs: delayMs(histogram.max),
        count: histogram.count,
        cdf,
        accepted: acceptedNow - acceptedBefore,
        intervalMs,
        elapsedMs: Math.round(elapsedMs * 10) / 10,
      },
      'loop',
    );
    acceptedBefore = acceptedNow;
    histogram.reset();
  }, intervalMs).unref();
}
