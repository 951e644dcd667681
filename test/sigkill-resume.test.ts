// A pod killed mid-drain: its Baton client got a reconnect hint (with its sealed session) but could not move
// before the pod was SIGKILLed. The client keeps the token through its failed reconnects and resumes the
// same session, counter included, on the replacement. Real gateway processes behind the lab's balancer.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BatonSocket } from '../packages/client/src/index.js';
import { budgetEnv, NodeBalancer, startGateway } from '../packages/lab/src/harness/index.js';
import { useCleanups } from './support/cleanups.js';
import { preStopDrain } from './support/drain-requests.js';
import { TEST_HANDOFF_KEYS } from './support/secrets.js';

const cleanups = useCleanups();
const gatewayScript = fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url));

type Tick = { session: string; n: number; version: string };

/** A pod that will die and its replacement (both started, only the first behind the balancer). */
async function doomedAndReplacement(env: Record<string, string>) {
  const [doomed, replacement] = await Promise.all([
    startGateway(gatewayScript, { ...env, APP_VERSION: 'v1' }),
    startGateway(gatewayScript, { ...env, APP_VERSION: 'v2' }),
  ]);
  cleanups.push(
    () => doomed.stop(),
    () => replacement.stop(),
  );
  const balancer = new NodeBalancer();
  cleanups.push(() => balancer.close());
  await balancer.listen();
  await balancer.update([{ port: doomed.port, ready: true, terminating: false }]);
  return { doomed, replacement, balancer };
}

/** Records the client's ticks; `tickOn(version, n)` resolves once n ticks of that version arrived. */
function recordTicks(client: BatonSocket) {
  const ticks: Tick[] = [];
  const tickOn = (version: string, atLeast: number) =>
    new Promise<void>((resolve) => {
      const onMessage = (event: MessageEvent) => {
        const tick = JSON.parse(String(event.data));
        if (tick.type !== 'tick') return;
        ticks.push(tick);
        if (tick.version === version && ticks.filter((t) => t.version === version).length >= atLeast) {
          client.removeEventListener('message', onMessage);
          resolve();
        }
      };
      client.addEventListener('message', onMessage);
    });
  return { ticks, tickOn };
}

describe('SIGKILL mid-drain', () => {
  it('the Baton client resumes its session (same id, counter from its token) on the replacement', async () => {
    const env = {
      TICK_MS: '100',
      BATON_HANDOFF_KEYS: TEST_HANDOFF_KEYS,
      ...budgetEnv({
        gracePeriodMs: 30_000,
        propagationDelayMs: 200,
        drainWindowMs: 500,
        closeTimeoutMs: 5_000,
        safetyMarginMs: 1_000,
      }),
    };
    const { doomed, replacement, balancer } = await doomedAndReplacement(env);

    // Sockets the client opens: a second one means it received the hint and tries to move.
    let opened = 0;
    let onMoveAttempt: () => void = () => {};
    class Counting extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        if (++opened === 2) onMoveAttempt();
      }
    }
    const client = new BatonSocket(`ws://127.0.0.1:${balancer.port}`, [], {
      WebSocket: Counting,
      initialDelayMs: 50,
      maxDelayMs: 200,
    });
    cleanups.push(() => client.close());
    let resumed = 0;
    client.addEventListener('resumed', () => resumed++);
    const { ticks, tickOn } = recordTicks(client);
    await tickOn('v1', 3);
    const before = ticks.at(-1) as Tick;

    // The pod terminates: no serving endpoint is left yet (the replacement is not ready), so the move fails.
    await balancer.update([{ port: doomed.port, ready: true, terminating: true }]);
    const moveAttempted = new Promise<void>((resolve) => {
      onMoveAttempt = resolve;
    });
    expect((await preStopDrain(doomed.adminUrl)).status).toBe(202);
    await moveAttempted;
    // Killed before the client could move: every connection gone at once, no close frame. The client's
    // first reconnect fails too (nothing serves yet): the token must survive that.
    const reconnectFailed = new Promise((resolve) => {
      client.addEventListener('close', () => client.addEventListener('error', resolve, { once: true }), { once: true });
    });
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    await reconnectFailed;
    // The replacement becomes ready; the client's next reconnect carries the token it kept.
    const resumedOnReplacement = tickOn('v2', 2);
    await balancer.update([{ port: replacement.port, ready: true, terminating: false }]);
    await resumedOnReplacement;

    const after = ticks.filter((tick) => tick.version === 'v2');
    expect(resumed).toBe(1);
    expect(after.every((tick) => tick.session === before.session)).toBe(true);
    // The counter continues from the sealed state (the hint's snapshot), never from zero.
    expect((after[0] as Tick).n).toBeGreaterThan(before.n - 5);
    expect((after[0] as Tick).n).toBeGreaterThan(1);
  });

  it('a pod SIGKILLed with no drain at all: its Baton client resumes from its last checkpoint', async () => {
    const env = {
      TICK_MS: '100',
      BATON_HANDOFF_KEYS: TEST_HANDOFF_KEYS,
      BATON_CHECKPOINT_SECONDS: '0.3',
      ...budgetEnv({ gracePeriodMs: 30_000, propagationDelayMs: 200, closeTimeoutMs: 5_000, safetyMarginMs: 1_000 }),
    };
    const { doomed, replacement, balancer } = await doomedAndReplacement(env);
    const client = new BatonSocket(`ws://127.0.0.1:${balancer.port}`, [], {
      WebSocket,
      initialDelayMs: 50,
      maxDelayMs: 200,
    });
    cleanups.push(() => client.close());
    const { ticks, tickOn } = recordTicks(client);
    // 10 ticks of 100 ms: at least three checkpoint intervals of 300 ms went by.
    await tickOn('v1', 10);
    const before = ticks.at(-1) as Tick;
    const resumedEvent = new Promise<void>((resolve) =>
      client.addEventListener('resumed', () => resolve(), { once: true }),
    );

    // No preStop, no SIGTERM, no hint: the process is gone at once (an OOM kill, a lost node).
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const onReplacement = tickOn('v2', 2);
    await balancer.update([{ port: replacement.port, ready: true, terminating: false }]);
    await Promise.all([resumedEvent, onReplacement]);

    const after = ticks.filter((tick) => tick.version === 'v2');
    expect(after.every((tick) => tick.session === before.session)).toBe(true);
    // Resumed as of the last checkpoint (at most one interval, 3 ticks, plus delivery behind the last tick seen).
    expect((after[0] as Tick).n).toBeGreaterThanOrEqual(before.n - 5);
    expect((after[0] as Tick).n).toBeGreaterThan(5);
  });
});
