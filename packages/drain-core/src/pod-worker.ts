// A worker process of a pod that runs several gateway processes (node:cluster, or children with an IPC channel):
// its DrainController drains when the pod's primary says so, over the window the primary gives, and reports
// what it holds so that the primary answers readiness, status and metrics for the pod as a whole. The worker's
// own controller runs without signals or an admin server (the primary has them: one SIGTERM, one preStop, one
// budget, one rollout hold).

import type { DrainController } from './drain-controller.js';
import { isPodMessage, type PodReport, type PodTotals } from './pod-messages.js';

/** How often a worker tells the primary what it holds (only when something changed). */
const REPORT_INTERVAL_MS = 250;

/** The part of `process` (or a cluster worker's) IPC a pod uses. */
export interface PodChannel {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * Make `controller` (this worker process's) follow the pod's primary over `channel` (default: this process's
 * IPC channel). Returns a function that stops following.
 */
export function joinPod(
  controller: DrainController,
  channel: PodChannel = process as unknown as PodChannel,
): () => void {
  if (typeof channel.send !== 'function') {
    throw new TypeError('joinPod() needs an IPC channel: run the worker with node:cluster or fork() it.');
  }
  let last = '';
  const report = (drained: boolean) => {
    const totals: PodTotals = controller.totals();
    const text = JSON.stringify(totals);
    if (text === last && !drained) return;
    last = text;
    const message: PodReport = { baton: 'pod', op: 'report', totals, drained };
    try {
      channel.send?.(message);
    } catch {
      // The primary is gone: the worker's own exit is its business (see docs/kubernetes.md).
    }
  };
  const onMessage = (message: unknown) => {
    if (!isPodMessage(message)) return;
    const command = message as { op: string; windowMs?: unknown; terminating?: unknown; maxClosesPerSecond?: unknown };
    if (command.op === 'close') {
      const windowMs = typeof command.windowMs === 'number' && command.windowMs >= 0 ? command.windowMs : 0;
      const cap = command.maxClosesPerSecond;
      void controller.drain({
        trigger: 'api',
        terminating: command.terminating !== false,
        // The primary waited the propagation delay (and the rollout hold) already.
        skipPropagationDelay: true,
        drainWindowMs: windowMs,
        // This worker's share of the pod's cap (a bad one is ignored: the worker's own options still apply).
        ...(typeof cap === 'number' && cap > 0 && Number.isFinite(cap) ? { maxClosesPerSecond: cap } : {}),
      });
    } else if (command.op === 'cancel') {
      controller.cancel();
      report(false);
    } else if (command.op === 'terminate') {
      void controller.destroy();
    }
  };
  const onDrained = (drainReport: { cancelled?: boolean }) => {
    if (!drainReport.cancelled) report(true);
  };
  channel.on('message', onMessage);
  controller.on('drained', onDrained);
  const timer = setInterval(() => report(false), REPORT_INTERVAL_MS);
  timer.unref();
  report(false);
  return () => {
    clearInterval(timer);
    channel.off('message', onMessage);
    controller.off('drained', onDrained);
  };
}
