// @ts-check
// BATON_LOOP_STATS_MS: log the event loop's delay (p99 and max, ms) every that many ms, for the release lab's
// unplanned-failure rows (how a survivor's loop fares while its dead peer's clients reconnect, and how many it
// accepted in each interval: admission control's effect). Off when unset.

import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

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
  setInterval(() => {
    const acceptedNow = accepted();
    const p99Ms = delayMs(histogram.percentile(99));
    logger.info({ p99Ms, maxMs: delayMs(histogram.max), accepted: acceptedNow - acceptedBefore }, 'loop');
    acceptedBefore = acceptedNow;
    histogram.reset();
  }, intervalMs).unref();
}
