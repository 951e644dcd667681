// The rollout-aware hold on a real ws server and real clients: closing waits for the hook (plus a propagation
// delay), never past the cap that keeps the minimum window, and a manual drain never waits.

import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../../test/support/cleanups.js';
import { openClients } from '../../../test/support/clients.js';
import { startWsServer, stateReached } from '../../../test/support/servers.js';
import {
  DrainController,
  type DrainOptions,
  DrainState,
  type RolloutHoldContext,
  type RolloutHoldResult,
} from '../src/index.js';

const budget = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 300,
  drainWindowMs: 2_000,
  closeTimeoutMs: 400,
  safetyMarginMs: 100,
  signals: false,
} satisfies DrainOptions;

const cleanups = useCleanups();

/** A hook the test answers by hand, recording how it was called. */
function manualHold() {
  let answer: (result: RolloutHoldResult) => void = () => {};
  let fail: (error: unknown) => void = () => {};
  const calls: RolloutHoldContext[] = [];
  const hook = (context: RolloutHoldContext) => {
    calls.push(context);
    return new Promise<RolloutHoldResult>((resolve, reject) => {
      answer = resolve;
      fail = reject;
    });
  };
  return { hook, calls, answer: (r: RolloutHoldResult) => answer(r), fail: (e: unknown) => fail(e) };
}

/** The hold is about time: reach a moment of the drain's timeline (the subject of the test, not a settle). */
function untilTime(at: number): Promise<void> {
  return delay(Math.max(0, at - Date.now()));
}

async function setup(options: DrainOptions, clients = 40) {
  const server = await startWsServer('server');
  const controller = new DrainController({ ...budget, ...options });
  controller.attach(server.wss);
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  const opened = await openClients(server.url, clients);
  return { server, controller, clients: opened };
}

describe('rollout-aware hold', () => {
  it('keeps every connection while peers serve, then closes them over what remains of the window', async () => {
    const hold = manualHold();
    const { controller, clients } = await setup({ rolloutHold: hold.hook });
    const t0 = Date.now();
    const drained = controller.drain({ trigger: 'signal' });
    // The hold's length is measured on drain-core's clock (monotonic), from the trigger: read that clock after
    // the trigger, so that this reading can only be later than the drain's own start.
    const t0Monotonic = performance.now();
    expect(hold.calls).toHaveLength(1);
    // Well past the propagation delay: still draining, nobody closed.
    await untilTime(t0 + 900);
    expect(controller.state).toBe(DrainState.DRAINING);
    expect(controller.status()).toMatchObject({ holding: true });
    expect(clients.every((client) => client.close === undefined)).toBe(true);

    const releasedAt = Date.now();
    const releasedMonotonic = performance.now();
    hold.answer({ outcome: 'peers-terminating', reason: 'replicaset terminating' });
    const report = await drained;
    const closes = await Promise.all(clients.map((client) => client.closed));
    // Closing starts one propagation delay after the release (peers' endpoints must leave the LB first).
    for (const close of closes) {
      expect(close.code).toBe(1012);
      expect(close.at).toBeGreaterThanOrEqual(releasedAt + budget.propagationDelayMs);
    }
    // The window's end did not move: the closes fit in what remained of it, spread, not all at once.
    const windowEnd = t0 + budget.propagationDelayMs + budget.drainWindowMs;
    const last = Math.max(...closes.map((c) => c.at));
    expect(last).toBeLessThanOrEqual(windowEnd + 150);
    const first = Math.min(...closes.map((c) => c.at));
    expect(last - first).toBeGreaterThan(0.5 * (windowEnd - releasedAt - budget.propagationDelayMs));
    expect(report.hold).toMatchObject({ outcome: 'released', reason: 'replicaset terminating' });
    // Held at least from the trigger to the release, on the same clock (wall-clock readings taken before the
    // trigger were 4 ms longer once: this run's timers and Date.now() are not one clock).
    expect(report.hold?.heldMs).toBeGreaterThanOrEqual(Math.floor(releasedMonotonic - t0Monotonic));
    expect(report.hold?.windowMs).toBeLessThan(budget.drainWindowMs - 500);
    expect(report.closingAt).toBeGreaterThanOrEqual(releasedAt + budget.propagationDelayMs);
  });

  it('is capped so that the window keeps its minimum share, and aborts the hook', async () => {
    const hold = manualHold();
    const { controller, clients } = await setup({ rolloutHold: hold.hook, minWindowShare: 0.4 });
    const t0 = Date.now();
    const report = await controller.drain({ trigger: 'signal' });
    const closes = await Promise.all(clients.map((client) => client.closed));
    const capAt = t0 + budget.propagationDelayMs + budget.drainWindowMs * 0.6;
    expect(hold.calls[0]?.signal.aborted).toBe(true);
    expect(Math.abs((hold.calls[0]?.capAt ?? 0) - capAt)).toBeLessThan(50);
    expect(report.hold).toMatchObject({ outcome: 'capped' });
    expect(report.hold?.windowMs).toBeGreaterThan(budget.drainWindowMs * 0.4 - 20);
    expect(report.hold?.windowMs).toBeLessThanOrEqual(budget.drainWindowMs * 0.4);
    for (const close of closes) expect(close.at).toBeGreaterThanOrEqual(capAt - 5);
    // A late answer changes nothing.
    hold.answer({ outcome: 'peers-terminating' });
    expect(controller.state).toBe(DrainState.DRAINED);
  });

  it('reports capped when peers terminate too late for their propagation delay to fit before the cap', async () => {
    const hold = manualHold();
    const { controller } = await setup({ rolloutHold: hold.hook, minWindowShare: 0.5 }, 5);
    const drained = controller.drain({ trigger: 'signal' });
    // Cap at t0 + 300 + 1000; answered at ~t0 + 1100: + 300 ms propagation would end past the cap.
    await untilTime(Date.now() + 1_100);
    hold.answer({ outcome: 'peers-terminating' });
    const report = await drained;
    expect(report.hold).toMatchObject({ outcome: 'capped', reason: 'peers terminated after the cap' });
  });

  it('never holds a manual drain of a pod that stays', async () => {
    const hold = manualHold();
    const { controller } = await setup({ rolloutHold: hold.hook, exitAfterDrain: 'never' }, 5);
    const report = await controller.drain({ trigger: 'admin', terminating: false });
    expect(hold.calls).toHaveLength(0);
    expect(report.hold).toBeUndefined();
    expect(report.closingAt! - report.startedAt).toBeLessThan(budget.propagationDelayMs + 200);
  });

  it.each([
    [
      'no-rollout',
      (h: ReturnType<typeof manualHold>) => h.answer({ outcome: 'no-rollout', reason: 'scale-down' }),
      { outcome: 'no-rollout', reason: 'scale-down' },
    ],
    [
      'unknown',
      (h: ReturnType<typeof manualHold>) => h.answer({ outcome: 'unknown', reason: 'BATON_ERR_KUBERNETES_FORBIDDEN' }),
      { outcome: 'unknown', reason: 'BATON_ERR_KUBERNETES_FORBIDDEN' },
    ],
    [
      'a rejection',
      (h: ReturnType<typeof manualHold>) => h.fail(new Error('boom')),
      { outcome: 'unknown', reason: 'BATON_ERR_HOLD_FAILED' },
    ],
    [
      'a malformed answer',
      (h: ReturnType<typeof manualHold>) => h.answer({ outcome: 'maybe' } as unknown as RolloutHoldResult),
      { outcome: 'unknown', reason: 'BATON_ERR_HOLD_FAILED' },
    ],
  ] as const)('closes as without a hold after %s, and reports it as such', async (_name, settle, expected) => {
    const hold = manualHold();
    const { controller } = await setup({ rolloutHold: hold.hook }, 5);
    const drained = controller.drain({ trigger: 'prestop' });
    settle(hold);
    const report = await drained;
    expect(report.closingAt! - report.startedAt).toBeGreaterThanOrEqual(budget.propagationDelayMs);
    expect(report.closingAt! - report.startedAt).toBeLessThan(budget.propagationDelayMs + 200);
    expect(report.hold?.heldMs).toBeLessThan(100);
    expect(report.hold?.windowMs).toBeGreaterThan(budget.drainWindowMs - 20);
    expect(report.hold?.windowMs).toBeLessThanOrEqual(budget.drainWindowMs);
    expect(report.hold).toMatchObject(expected);
  });

  it('ends the window with the group: at the earliest peer deadline less close timeout and margin', async () => {
    const hold = manualHold();
    const { controller, clients } = await setup({ rolloutHold: hold.hook });
    const t0 = Date.now();
    const drained = controller.drain({ trigger: 'signal' });
    // The group's earliest pod gets SIGKILL at t0 + 2.3 s: its window ends 500 ms before (close timeout 400 ms
    // + margin 100 ms), at t0 + 1.8 s, earlier than ours (t0 + 2.3 s) and later than our minimum (t0 + 1.3 s).
    const groupDeadlineAt = t0 + 2_300;
    hold.answer({ outcome: 'peers-terminating', groupDeadlineAt });
    const report = await drained;
    const closes = await Promise.all(clients.map((client) => client.closed));
    const groupWindowEnd = groupDeadlineAt - budget.closeTimeoutMs - budget.safetyMarginMs;
    expect(Math.max(...closes.map((c) => c.at))).toBeLessThanOrEqual(groupWindowEnd + 100);
    expect(report.hold?.windowMs).toBeGreaterThanOrEqual(budget.drainWindowMs * 0.5);
    expect(report.hold?.windowMs).toBeLessThan(budget.drainWindowMs);
  });

  it('reports the hold in the metrics while it lasts', async () => {
    const hold = manualHold();
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const { controller } = await setup({ rolloutHold: hold.hook, metrics: { registry } }, 2);
    await controller.start();
    void controller.drain({ trigger: 'signal' });
    expect(await registry.metrics()).toMatch(/baton_drain_hold_outcome\{outcome="holding"\} 1/);
    hold.answer({ outcome: 'peers-terminating' });
    await stateReached(controller, DrainState.CLOSING);
    const text = await registry.metrics();
    expect(text).toMatch(/baton_drain_hold_outcome\{outcome="released"\} 1/);
    expect(Number(/baton_drain_hold_seconds ([\d.]+)/.exec(text)?.[1])).toBeGreaterThan(0);
  });
});
