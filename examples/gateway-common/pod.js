// @ts-check
// A pod that runs several gateway processes (WORKERS > 1): node:cluster's primary forks the workers, which
// share the listening port (the primary hands each accepted connection to a worker in turn), and keeps the
// pod's drain for itself — SIGTERM, the preStop's baton-drain, the budget, the rollout hold, readiness and the
// pod's metrics — with no connection of its own. When its closing phase starts it tells every worker to close
// over the same window (drain-core's PodWorkers / joinPod), so the pod's closes are paced as one pod's.

import cluster from 'node:cluster';
import { once } from 'node:events';
import { DrainController, PodWorkers } from '@baton/drain-core';
import { drainOptions } from './config.js';

const MAX_WORKERS = 64;

/**
 * WORKERS: gateway processes in this pod (default 1: no primary, the process is the gateway).
 * @param {NodeJS.ProcessEnv} env
 */
export function workersFrom(env) {
  const raw = env.WORKERS;
  if (raw === undefined || raw === '') return 1;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_WORKERS) {
    throw Object.assign(
      new RangeError(
        `WORKERS must be a whole number of processes from 1 to ${MAX_WORKERS}; got ${JSON.stringify(raw)}.`,
      ),
      { code: 'BATON_ERR_INVALID_ENV' },
    );
  }
  return value;
}

/**
 * What a worker's own DrainController changes: the primary has the signals, the admin server and the exit.
 * @param {import('@baton/drain-core').DrainOptions} options
 * @returns {import('@baton/drain-core').DrainOptions}
 */
export function workerDrainOptions(options) {
  return { ...options, signals: false, admin: false, metrics: false, exitAfterDrain: 'never', rebalance: undefined };
}

/**
 * Run this process as the pod's primary: fork `workers` gateway processes (this same script) and drain them as
 * one pod. Resolves once every worker listens and the admin server is up.
 * @param {{ config: any, logger: import('@baton/drain-core').Logger, workers: number }} pod
 */
export async function runPodPrimary({ config, logger, workers }) {
  if (config.drain.rebalance) {
    // Each worker would be a "pod" of its own to its peers, and the primary holds no connection to move.
    throw Object.assign(new RangeError('BATON_REBALANCE_SECONDS cannot be combined with WORKERS > 1 yet.'), {
      code: 'BATON_ERR_INVALID_ENV',
    });
  }
  // The primary seals no session (its workers do), so it opens no session store either.
  const primaryConfig = { ...config, drain: { ...config.drain, handoffKeys: undefined } };
  const drain = new DrainController(await drainOptions(primaryConfig, { snapshot: () => undefined }, logger));
  const pod = new PodWorkers(drain);
  /** @param {number} slot */
  const fork = (slot) => {
    const worker = cluster.fork({ BATON_POD_WORKER: String(slot) });
    pod.add(worker);
    worker.on('exit', (code, signal) => {
      if (drain.state !== 'serving') return;
      // A worker that crashed while the pod serves is replaced; its clients reconnect on their own back-off.
      logger.error({ worker: slot, code, signal }, 'gateway worker exited; starting another');
      fork(slot);
    });
    return worker;
  };
  const started = Array.from({ length: workers }, (_, slot) => once(fork(slot), 'listening'));
  // The workers share one port (PORT=0: one port picked for all of them).
  const [[address]] = /** @type {[[import('node:net').AddressInfo]]} */ (await Promise.all(started));
  drain.on('state', ({ from, to, trigger }) => logger.info({ from, to, trigger }, 'drain state'));
  drain.on('drained', (report) => logger.info({ report, pod: pod.totals() }, 'pod drained'));
  await drain.start();
  logger.info(
    {
      port: address.port,
      adminPort: drain.adminAddress()?.port,
      workers,
      version: config.appVersion,
      budget: drain.budget,
    },
    'listening',
  );
  return drain;
}
