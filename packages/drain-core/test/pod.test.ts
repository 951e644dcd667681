// A pod of several processes: a primary DrainController with PodWorkers, and worker processes (real children
// with an IPC channel) whose controllers follow it (joinPod). What the primary reports, a manual drain and its
// cancel reaching every worker, a worker lost mid-drain, a worker added while closing, and reports that are not
// reports. Real sockets and processes throughout.

import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { DrainController, type DrainOptions, PodWorkers } from '../src/index.js';
import { EMPTY_TOTALS } from '../src/pod-messages.js';

const cleanups = useCleanups();
const workerScript = fileURLToPath(new URL('./fixtures/pod-worker.mjs', import.meta.url));

function primary(options: DrainOptions = {}) {
  const controller = new DrainController({
    signals: false,
    metrics: false,
    exitAfterDrain: 'never',
    propagationDelayMs: 100,
    drainWindowMs: 1_500,
    closeTimeoutMs: 1_000,
    safetyMarginMs: 0,
    gracePeriodMs: 2_600,
    ...options,
  });
  cleanups.push(() => controller.destroy());
  return { controller, pod: new PodWorkers(controller) };
}

async function worker(pod: PodWorkers): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // Listening from the fork on: the worker's first report and its port may come in one read, emitted in one tick.
  const port = new Promise<number>((resolve) => {
    const onMessage = (message: { type?: string; port?: number }) => {
      if (message?.type !== 'port') return;
      child.off('message', onMessage);
      resolve(message.port as number);
    };
    child.on('message', onMessage);
  });
  pod.add(child);
  return { child, url: `ws://127.0.0.1:${await port}` };
}

async function clients(url: string, count: number): Promise<WebSocket[]> {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = new WebSocket(url);
      cleanups.push(() => socket.terminate());
      await once(socket, 'open');
      return socket;
    }),
  );
  return sockets;
}

/** Resolves once the primary's view of the pod satisfies `predicate` (on the reports' 'change' events). */
async function podReaches(
  controller: DrainController,
  pod: PodWorkers,
  predicate: (connections: number) => boolean,
): Promise<void> {
  while (!predicate(controller.status().connections as number)) await once(pod, 'change');
}

describe('a pod of worker processes', () => {
  it("the primary answers for the pod, and drains once every worker's connections closed", async () => {
    const { controller, pod } = primary();
    const [a, b] = [await worker(pod), await worker(pod)];
    const sockets = [...(await clients(a.url, 30)), ...(await clients(b.url, 20))];
    await podReaches(controller, pod, (n) => n === 50);
    expect(controller.connectionCount).toBe(0);
    const closes = sockets.map((socket) => once(socket, 'close').then(([code]) => code as number));
    const report = await controller.drain();
    expect(await Promise.all(closes)).toEqual(Array(50).fill(1012));
    expect(report.connectionsAtClosing).toBe(50);
    expect(pod.totals()).toMatchObject({ connections: 0, closed: 50, accepted: 50 });
  });

  it('a manual drain and its cancel reach every worker: the connections still open stay', async () => {
    const { controller, pod } = primary({ drainWindowMs: 10_000, gracePeriodMs: 11_100 });
    const [a, b] = [await worker(pod), await worker(pod)];
    const sockets = [...(await clients(a.url, 40)), ...(await clients(b.url, 40))];
    await podReaches(controller, pod, (n) => n === 80);
    let closed = 0;
    for (const socket of sockets) socket.on('close', () => closed++);
    void controller.drain({ trigger: 'admin', terminating: false });
    // Some closes in both workers (a tenth of a 10 s window is 8 of 80), then the cancel.
    await new Promise<void>((resolve) => {
      const onClose = () => {
        if (closed < 8) return;
        for (const socket of sockets) socket.off('close', onClose);
        resolve();
      };
      for (const socket of sockets) socket.on('close', onClose);
    });
    expect(controller.cancel()).toBe(true);
    const stillOpen = sockets.filter((socket) => socket.readyState === WebSocket.OPEN).length;
    await podReaches(controller, pod, (n) => n === stillOpen);
    expect(controller.state).toBe('serving');
    expect(stillOpen).toBeGreaterThan(40);
    // A worker that was cancelled serves again: a new client is accepted by both.
    await clients(a.url, 1);
    await clients(b.url, 1);
  });

  it('a worker lost mid-drain does not keep the pod from draining; a worker added while closing refuses upgrades', async () => {
    const { controller, pod } = primary({ drainWindowMs: 3_000, gracePeriodMs: 4_100 });
    const a = await worker(pod);
    const lost = await worker(pod);
    await clients(a.url, 10);
    await clients(lost.url, 10);
    await podReaches(controller, pod, (n) => n === 20);
    const drained = controller.drain();
    await once(controller, 'state');
    while (controller.state !== 'closing') await once(controller, 'state');
    lost.child.kill('SIGKILL');
    // Added after closing began: told to close at once, so it refuses upgrades as the rest of the pod does.
    const late = await worker(pod);
    const refused = new WebSocket(late.url);
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(503);
    const report = await drained;
    expect(report.cancelled).toBe(false);
    expect(pod.size).toBe(2);
    expect(pod.totals().connections).toBe(0);
  });

  it("shares the pod's maxClosesPerSecond among the workers in proportion to what each holds", async () => {
    // 40 closes a second for the pod: 60 and 20 connections get 30 and 10 (both need 2 s: longer than the
    // 1.5 s window, so each worker's closing phase warns, with the cap it planned with).
    const { controller, pod } = primary({ maxClosesPerSecond: 40 });
    const [a, b] = [await worker(pod), await worker(pod)];
    await clients(a.url, 60);
    await clients(b.url, 20);
    await podReaches(controller, pod, (n) => n === 80);
    const planned = (child: ChildProcess) =>
      new Promise<number>((resolve) => {
        const onMessage = (message: { type?: string; fields?: { maxClosesPerSecond?: number } }) => {
          if (message?.type !== 'warn' || message.fields?.maxClosesPerSecond === undefined) return;
          child.off('message', onMessage);
          resolve(message.fields.maxClosesPerSecond);
        };
        child.on('message', onMessage);
      });
    const caps = Promise.all([planned(a.child), planned(b.child)]);
    const drained = controller.drain();
    expect(await caps).toEqual([30, 10]);
    await drained;
    expect(pod.totals()).toMatchObject({ connections: 0, closed: 80 });
  });

  it('ignores what is not a report: app messages on the channel, and reports with bad numbers', async () => {
    const { controller, pod } = primary();
    // A fake member: the test speaks for it.
    const fake = {
      listeners: [] as ((message: unknown) => void)[],
      send: () => true,
      on(event: string, listener: (message: unknown) => void) {
        if (event === 'message') this.listeners.push(listener);
        return this;
      },
    };
    pod.add(fake);
    const say = (message: unknown) => {
      for (const listener of fake.listeners) listener(message);
    };
    say({ hello: 'app' });
    say({ baton: 'pod', op: 'report', totals: { connections: -5 } });
    say({ baton: 'pod', op: 'report', totals: 'lots' });
    expect(controller.status().connections).toBe(0);
    say({
      baton: 'pod',
      op: 'report',
      drained: false,
      totals: { ...EMPTY_TOTALS, connections: 3, accepted: 3 },
    });
    expect(controller.status().connections).toBe(3);
  });
});
