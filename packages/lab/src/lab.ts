// Runs one strategy end to end — pods, balancer, fleet, release — and measures what the clients went through.

import { fileURLToPath } from 'node:url';
import { type ClientRecord, Fleet } from './fleet.js';
import { LoadBalancer } from './load-balancer.js';
import { Cluster, type ReleaseTimeline, release, type Strategy } from './release.js';

export interface StrategyRun {
  name: string;
  strategy: Strategy;
  /** 'baton' runs the Baton gateway; 'naive' the gateway that closes everything on SIGTERM. */
  gateway: 'baton' | 'naive';
  clients: 'plain' | 'baton';
  /** Reset established flows whose endpoint is removed (GKE Dataplane V2 on a selector flip). */
  faultModel?: boolean;
  /**
   * Roll back to v1 (new v1 pods, same strategy) this share of the drain window after the release's
   * cut-over, while its old pods still drain.
   */
  rollbackAfterWindowShare?: number;
}

export interface LabOptions {
  clients: number;
  /** Which example runs the Baton pods. Default 'ws'. */
  gateway?: 'ws' | 'fastify';
  replicas: number;
  /** Multiplies every duration of the real-world budget (1 = real time). */
  timeScale: number;
}

export interface StrategyResult {
  name: string;
  clients: number;
  disconnects: { zero: number; one: number; two: number; threeOrMore: number; max: number; shareMoreThanOnce: number };
  appVisibleDisconnectsOfBatonClients: number | null;
  /** Most times one client changed pod: its disconnects plus its Baton moves. */
  maxMoves: number;
  ticksLost: number;
  ticksDuplicated: number;
  oldPodAcceptsAfterCutOver: number;
  reconnectsPerSecond: { peak: number; p99: number; evenRate: number; peakOverEven: number };
  durationSeconds: number;
  podsMissingDeadline: number;
  connectedAtEnd: number;
  /** For the charts: connections per version (sampled), reconnects in each second since the release began. */
  series: { connections: { t: number; v1: number; v2: number }[]; reconnects: number[] };
}

// The real-world budget the lab compresses: terminationGracePeriodSeconds 120, propagation 15 s, close
// timeout 5 s, margin 2 s (window 98 s), endpoint propagation lag 5 s, client back-off 1 s doubling to 5 min.
const REAL = {
  graceMs: 120_000,
  propagationMs: 15_000,
  closeTimeoutMs: 5_000,
  marginMs: 2_000,
  lagMs: 5_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 300_000,
};

const gateways = {
  ws: fileURLToPath(new URL('../../../examples/ws-gateway/server.js', import.meta.url)),
  fastify: fileURLToPath(new URL('../../../examples/fastify-gateway/server.js', import.meta.url)),
  naive: fileURLToPath(new URL('../../../examples/naive-gateway/server.js', import.meta.url)),
};

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function runStrategy(run: StrategyRun, options: LabOptions): Promise<StrategyResult> {
  const scale = (ms: number) => Math.max(1, Math.round(ms * options.timeScale));
  const seconds = (ms: number) => String(scale(ms) / 1000);
  const windowMs = scale(REAL.graceMs - REAL.propagationMs - REAL.closeTimeoutMs - REAL.marginMs);
  const balancer = new LoadBalancer({
    propagationLagMs: scale(REAL.lagMs),
    resetOnRemoval: run.faultModel ?? false,
    // Two descriptors per client; keep each proxy process well under the 20,000 a process may hold here.
    workers: Math.ceil(options.clients / 5000),
  });
  await balancer.listen();
  const environment = {
    replicas: options.replicas,
    balancer,
    script: () => gateways[run.gateway === 'naive' ? 'naive' : (options.gateway ?? 'ws')],
    env: {
      // A tick a (scaled) second, but at most ~4,000 ticks a second for the whole fleet: the lab measures
      // gaps, not throughput, and 20,000 clients ticking 20 times a second would saturate two cores.
      TICK_MS: String(Math.max(50, scale(1000), Math.ceil(options.clients / 4))),
      BATON_GRACE_PERIOD_SECONDS: seconds(REAL.graceMs),
      BATON_PROPAGATION_SECONDS: seconds(REAL.propagationMs),
      BATON_CLOSE_TIMEOUT_SECONDS: seconds(REAL.closeTimeoutMs),
      BATON_SAFETY_MARGIN_SECONDS: seconds(REAL.marginMs),
      BATON_HANDOFF_KEYS: `lab=${'lab-only-handoff-secret-'.repeat(2)}`,
    },
  };
  const cluster = new Cluster(environment);
  const oldPods = await cluster.start('v1', options.replicas);
  await cluster.add(oldPods);
  const fleet = await Fleet.start({
    url: `ws://127.0.0.1:${balancer.port}`,
    clients: options.clients,
    kind: run.clients,
    initialDelayMs: scale(REAL.backoffInitialMs),
    maxDelayMs: scale(REAL.backoffMaxMs),
    rampMs: scale(10_000),
  });
  let timeline: ReleaseTimeline | undefined;
  let rollback: ReleaseTimeline | undefined;
  try {
    // Connecting the fleet is set-up, not release time: bounded by the fleet's size, not the time scale.
    await waitUntil(
      async () => (await fleet.connected()) === options.clients,
      Math.max(scale(60_000), 20_000 + options.clients * 5),
    );
    const before = await fleet.report();
    const startedAt = Date.now();
    const connections: { t: number; v1: number; v2: number }[] = [];
    const sampler = setInterval(async () => {
      let v1 = 0;
      let v2 = 0;
      for (const [port, count] of await balancer.openFlows()) {
        if (cluster.versionOf(port) === 'v1') v1 += count;
        else v2 += count;
      }
      connections.push({ t: (Date.now() - startedAt) / 1000, v1, v2 });
    }, 200);
    try {
      const forward = release(cluster, oldPods, 'v2', run.strategy);
      if (run.rollbackAfterWindowShare !== undefined) {
        // Wait for the forward release's cut-over, then roll back part-way through its drain.
        await waitUntil(async () => oldPods.some((pod) => pod.deletedAt > 0), 60_000);
        await new Promise((resolve) => setTimeout(resolve, windowMs * (run.rollbackAfterWindowShare as number)));
        const v2 = cluster.pods.filter((pod) => pod.version === 'v2' && !cluster.isTerminating(pod));
        rollback = await release(cluster, v2, 'v1', run.strategy);
      }
      timeline = await forward;
      // The release is over for the clients once they are all back (bounded by the longest back-off).
      await waitUntil(async () => (await fleet.connected()) === options.clients, scale(REAL.backoffMaxMs) + 5_000);
    } finally {
      clearInterval(sampler);
    }
    await balancer.openFlows(); // collects the workers' last accepts
    const records = subtract(await fleet.report(), before);
    const releases = rollback ? [timeline, rollback] : [timeline];
    const result = measure(run, options, releases, records, balancer, windowMs, scale(REAL.graceMs), scale(REAL.lagMs));
    result.series.connections = connections;
    return result;
  } finally {
    await fleet.stop();
    await Promise.all([...oldPods, ...cluster.pods].map((pod) => pod.kill()));
    await balancer.close();
  }
}

/** Only what happened during the release counts. */
function subtract(after: ClientRecord[], before: ClientRecord[]): ClientRecord[] {
  return after.map((record, i) => {
    const base = before[i] as ClientRecord;
    return {
      ...record,
      disconnects: record.disconnects - base.disconnects,
      migrations: record.migrations - base.migrations,
      ticksLost: record.ticksLost - base.ticksLost,
      ticksDuplicated: record.ticksDuplicated - base.ticksDuplicated,
    };
  });
}

function measure(
  run: StrategyRun,
  options: LabOptions,
  releases: ReleaseTimeline[],
  records: ClientRecord[],
  balancer: LoadBalancer,
  windowMs: number,
  graceMs: number,
  lagMs: number,
): StrategyResult {
  const count = (predicate: (r: ClientRecord) => boolean) => records.filter(predicate).length;
  const timeline = releases[0] as ReleaseTimeline;
  const accepts = balancer.accepts.filter((accept) => accept.at >= timeline.startedAt);
  // Connections the outgoing version accepted once its cut-over had propagated (for a rollback, both the
  // forward release's old pods and the rollback's).
  const lateAccepts = releases.reduce((sum, r) => {
    const ports = new Set(r.oldPods.map((pod) => pod.port));
    return sum + accepts.filter((accept) => ports.has(accept.port) && accept.at > r.cutOverAt + lagMs).length;
  }, 0);
  const bins = new Map<number, number>();
  for (const accept of accepts) {
    const second = Math.floor((accept.at - timeline.startedAt) / 1000);
    bins.set(second, (bins.get(second) ?? 0) + 1);
  }
  const perSecond = [...bins.values()];
  const lastSecond = Math.max(-1, ...bins.keys());
  const reconnects = Array.from({ length: lastSecond + 1 }, (_, second) => bins.get(second) ?? 0);
  const evenRate = options.clients / (windowMs / 1000);
  const peak = Math.max(0, ...perSecond);
  const disconnects = records.map((r) => r.disconnects);
  return {
    name: run.name,
    clients: records.length,
    disconnects: {
      zero: count((r) => r.disconnects === 0),
      one: count((r) => r.disconnects === 1),
      two: count((r) => r.disconnects === 2),
      threeOrMore: count((r) => r.disconnects >= 3),
      max: Math.max(0, ...disconnects),
      shareMoreThanOnce: count((r) => r.disconnects > 1) / records.length,
    },
    appVisibleDisconnectsOfBatonClients: run.clients === 'baton' ? disconnects.reduce((a, b) => a + b, 0) : null,
    maxMoves: Math.max(0, ...records.map((r) => r.disconnects + r.migrations)),
    ticksLost: run.clients === 'baton' ? records.reduce((a, r) => a + r.ticksLost, 0) : 0,
    ticksDuplicated: run.clients === 'baton' ? records.reduce((a, r) => a + r.ticksDuplicated, 0) : 0,
    oldPodAcceptsAfterCutOver: lateAccepts,
    reconnectsPerSecond: { peak, p99: percentile(perSecond, 99), evenRate, peakOverEven: peak / evenRate },
    durationSeconds: (Date.now() - timeline.startedAt) / 1000,
    podsMissingDeadline: releases.flatMap((r) => r.oldPods).filter((pod) => pod.exitedAt - pod.deletedAt > graceMs)
      .length,
    connectedAtEnd: count((r) => r.connected),
    series: { connections: [], reconnects },
  };
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A bounded poll of the fleet's own reports: the lab's clocks are the processes', not a test's.
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`lab: condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
