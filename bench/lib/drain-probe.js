// The 'drain' probe the benchmark servers answer (server.js, relay-server.js): the event loop's delay while
// the connections of `wss` go — drained by drain-core ('baton'), left idle as long ('idle', the baseline), or
// dropped at once ('terminate-all' / 'close-all', what a naive shutdown does).

import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';

// The histogram records the time between its timer's firings, the resolution included (an idle loop reads
// ~1 ms at resolution 1): the delay is what exceeds it.
const LOOP_RESOLUTION_MS = 1;
const delayMs = (nanoseconds) => Math.max(0, nanoseconds / 1e6 - LOOP_RESOLUTION_MS);

/** drain-core as every benchmark server runs it: a whole drain over `windowMs`, no signals, the admin server on. */
export function benchDrainOptions(windowMs) {
  return {
    signals: false,
    exitAfterDrain: 'never',
    propagationDelayMs: 0,
    drainWindowMs: windowMs,
    closeTimeoutMs: 5_000,
    safetyMarginMs: 0,
    gracePeriodMs: windowMs + 5_000,
    admin: { port: 0, host: '127.0.0.1' },
  };
}

/**
 * The handler of a 'drain' message: `connections()` counts what is drained, `wss` is the ws server whose clients
 * 'terminate-all' / 'close-all' drop (it must track clients then), `drain` the DrainController (for 'baton'),
 * `windowMs` the idle span.
 */
export function drainProbe(connections, wss, drain, windowMs) {
  return async (message) => {
    const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    const count = connections();
    delay.enable();
    // Let the monitor take samples first: a stall in the same tick as enable() would go unrecorded.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    if (message.how === 'baton') {
      await drain.drain();
    } else if (message.how === 'idle') {
      await new Promise((resolve) => setTimeout(resolve, windowMs));
    } else {
      const allClosed = Promise.all([...wss.clients].map((ws) => once(ws, 'close')));
      for (const ws of wss.clients) {
        if (message.how === 'terminate-all') ws.terminate();
        else ws.close(1001);
      }
      await allClosed;
    }
    const durationMs = performance.now() - started;
    delay.disable();
    process.send?.({
      type: 'drained',
      connections: count,
      durationMs,
      p50Ms: delayMs(delay.percentile(50)),
      p99Ms: delayMs(delay.percentile(99)),
      maxMs: delayMs(delay.max),
    });
  };
}
