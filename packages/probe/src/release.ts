// A probe of one release: start the fleet (and the cluster watch), let it run for the duration, then collect
// every client's record into a run, its figures and the verdict. The CLI's `release` command is this, plus
// flags, a progress line and the files it writes.

import { RolloutWatch, type RolloutWatchOptions } from './cluster/rollout-watch.js';
import { ProbeError, ProbeErrorCodes } from './errors.js';
import { buildReport, type ProbeReport, type Thresholds } from './figures/probe-report.js';
import { runFromRecords } from './figures/probe-run.js';
import { Fleet } from './fleet/fleet.js';
import type { FleetProgress } from './fleet/fleet-worker.js';
import type { VersionSource } from './fleet/identify.js';

export interface ReleaseProbeOptions {
  url: string;
  /** Clients this probe runs (its shard's share when sharded). */
  clients: number;
  durationSeconds: number;
  rampSeconds: number;
  backoffMaxSeconds: number;
  /** First back-off cap, seconds. Default 1. */
  backoffInitialSeconds?: number;
  kind: 'plain' | 'baton';
  headers: Record<string, string>;
  versionFrom: VersionSource;
  sourceAddresses: string[];
  thresholds: Thresholds;
  /** The drain window the release should spread its reconnects over, real seconds (peak / even against it). */
  windowSeconds?: number;
  /** "i/n" when this probe is one shard of a larger fleet. */
  shard?: { index: number; count: number };
  /** Watch the cluster's pods (read-only). */
  cluster?: RolloutWatchOptions;
  /** Called about once a second with the fleet's running counts. */
  onProgress?: (progress: FleetProgress, elapsedSeconds: number) => void;
  /** Ends the run early (the CLI's SIGINT). */
  signal?: AbortSignal;
}

export async function probeRelease(options: ReleaseProbeOptions): Promise<ProbeReport> {
  const watch = options.cluster ? await RolloutWatch.start(options.cluster) : undefined;
  let fleet: Fleet | undefined;
  try {
    const startedAt = Date.now();
    fleet = await Fleet.start({
      url: options.url,
      clients: options.clients,
      kind: options.kind,
      initialDelayMs: (options.backoffInitialSeconds ?? 1) * 1000,
      maxDelayMs: options.backoffMaxSeconds * 1000,
      rampMs: options.rampSeconds * 1000,
      versionFrom: options.versionFrom,
      headers: options.headers,
      sourceAddresses: options.sourceAddresses,
      firstClient: 0,
    });
    await runFor(fleet, options, startedAt);
    const records = await fleet.report();
    const endedAt = Date.now();
    await fleet.stop();
    const run = runFromRecords(records, {
      startedAt,
      endedAt,
      kind: options.kind,
      rollout: watch ? watch.events : null,
    });
    if (run.connections.length === 0) {
      const refused = run.refusals.length;
      throw new ProbeError(
        ProbeErrorCodes.UNREACHABLE,
        refused > 0
          ? `no client could connect to ${options.url}: all ${refused} upgrades were refused (HTTP ${run.refusals[0]?.status})`
          : `no client could connect to ${options.url}: ${run.lastError ?? 'no attempt completed'}`,
      );
    }
    const shard = options.shard ? `${options.shard.index}/${options.shard.count}` : '1/1';
    return buildReport(
      run,
      {
        url: options.url,
        shards: [shard],
        clients: options.clients,
        durationSeconds: (endedAt - startedAt) / 1000,
        ...(options.windowSeconds === undefined ? {} : { windowSeconds: options.windowSeconds }),
      },
      options.thresholds,
    );
  } finally {
    await fleet?.stop();
    await watch?.stop();
  }
}

/** Until the duration ends (or the signal): progress each second, and an early end when nothing can connect. */
async function runFor(fleet: Fleet, options: ReleaseProbeOptions, startedAt: number): Promise<void> {
  const endAt = startedAt + options.durationSeconds * 1000;
  const rampEndsAt = startedAt + options.rampSeconds * 1000;
  let everConnected = false;
  while (Date.now() < endAt && !options.signal?.aborted) {
    await pause(Math.min(1_000, Math.max(0, endAt - Date.now())), options.signal);
    const progress = await fleet.progress();
    options.onProgress?.(progress, (Date.now() - startedAt) / 1000);
    everConnected ||= Object.keys(progress.acceptsByVersion).length > 0;
    // Every client tried and failed, none ever connected: the URL is wrong or down (or its TLS); say so now
    // rather than at the end of the duration.
    const attempts = progress.failures + progress.refusals;
    if (!everConnected && Date.now() > rampEndsAt && attempts >= progress.clients) return;
  }
}

/** Wait `ms`, or less when `signal` aborts; leaves no listener behind. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
