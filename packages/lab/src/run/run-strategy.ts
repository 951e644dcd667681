// Runs one strategy end to end — pods, balancer, fleet, release — and measures what the clients went through.

import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { drainEnvFrom, resolveDrainBudget } from '@baton/drain-core';
import { KubeApi } from '../cluster/kube-api.js';
import type { PodProcess } from '../cluster/pod-process.js';
import { LAB_NAMESPACE, PodStore } from '../cluster/pod-store.js';
import {
  argoBlueGreen,
  argoBlueGreenAbort,
  Cluster,
  DeploymentController,
  nodeSurgeUpgrade,
  type ReadinessModel,
  type ReleaseTimeline,
  type Strategy,
  selectorFlip,
  twoDeployments,
} from '../cluster/release.js';
import { KernelBalancer } from '../datapath/kernel/kernel-balancer.js';
import type { DataPath, LabBalancer } from '../datapath/lab-balancer.js';
import { NodeBalancer, type NodeBalancerOptions } from '../datapath/node/node-balancer.js';
import { type ClientRecord, Fleet } from '../fleet/fleet.js';
import { budgetEnv, startGateway } from '../harness/gateway-launcher.js';
import { pooledPercentile } from '../report/loop-delay.js';
import { seededRandom } from './random.js';

export interface StrategyRun {
  name: string;
  strategy: Strategy;
  /**
   * 'baton' runs the Baton gateway; 'naive' the gateway that closes everything on SIGTERM; 'relay' makes the
   * released pods @baton/relay processes in front of one Baton gateway that stays (the relay's own release).
   */
  gateway: 'baton' | 'naive' | 'relay';
  /**
   * The clients reach the gateways through one @baton/relay process (upstream: the balancer, `--id-field id`),
   * so the gateway's hints move the relay's upstreams instead of reaching the clients. Default false.
   */
  throughRelay?: boolean;
  clients: 'plain' | 'baton';
  /**
   * kube-proxy keeps a removed endpoint's established flows; the Dataplane V2 model resets them (a selector
   * flip). Default: the lab option, else kube-proxy.
   */
  dataplane?: 'kube-proxy' | 'dpv2';
  /** Default: the lab option, else Local. */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  /** Default: the lab option, else false (Kubernetes ≥ 1.26). */
  kubernetesBefore126?: boolean;
  /** The propagation delay in real seconds, when not the lab's 30 s (the window is derived from it). */
  propagationSeconds?: number;
  /** Gateways run the rollout-aware hold (@baton/kubernetes against the lab's pod API). Default false. */
  rolloutHold?: boolean;
  /** The hold's minimum window share (BATON_MIN_WINDOW_SHARE). Default: drain-core's 0.5. */
  minWindowShare?: number;
  /** Admission control on every pod (BATON_MAX_ACCEPTS_PER_SECOND / BATON_ACCEPT_BURST), in real-world rates. */
  admission?: { maxAcceptsPerSecond: number; burst: number };
  /**
   * How new pods become ready during the release, in real-world ms (the lab scales them). Default: the lab
   * option `readiness`.
   */
  readiness?: ReadinessModel;
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
  /** New pods' readiness in real-world ms, for runs that do not set their own. Default: immediate. */
  readiness?: ReadinessModel;
  /** Seed of the lab's random choices (readiness draws). Default 1. */
  seed?: number;
  /** Default kube-proxy (see StrategyRun). */
  dataplane?: 'kube-proxy' | 'dpv2';
  /** The Service's externalTrafficPolicy. Default Local (the guide's setting, with the LB's health-check lag). */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  /** Kubernetes before 1.26 drops SYNs to a node whose local endpoints all terminate. Default false (≥ 1.26). */
  kubernetesBefore126?: boolean;
  /**
   * The data path between clients and pods: 'kernel' (network namespaces, kube-proxy-style iptables rules,
   * conntrack: datapath/kernel/) or 'node' (the Node balancer, a JavaScript model: datapath/node/).
   * Default: kernel where this process may create namespaces and finds iptables and conntrack, else node.
   */
  dataPath?: DataPath;
}

/** The data path a lab run uses when none is asked for: the kernel's where it can run here. */
export function defaultDataPath(): DataPath {
  return KernelBalancer.available() ? 'kernel' : 'node';
}

export interface StrategyResult {
  name: string;
  /** The model this row ran under: strategy, readiness, dataplane, hold. */
  model: string;
  /** Which data path carried the flows: the kernel's (namespaces, iptables, conntrack) or the Node balancer. */
  dataPath: DataPath;
  clients: number;
  disconnects: { zero: number; one: number; two: number; threeOrMore: number; max: number; shareMoreThanOnce: number };
  appVisibleDisconnectsOfBatonClients: number | null;
  /** Whether sessions survive a move here (Baton clients, or plain clients through the relay): ticks are counted. */
  sessionsTracked: boolean;
  /** How many app-visible disconnects ended with each close code (1012: a drain's close; 1006: no close frame). */
  closeCodes: Record<string, number>;
  /** Most times one client changed pod: its disconnects plus its Baton moves. */
  maxMoves: number;
  /** Fewest times one client changed pod (a row whose release reached every client has at least 1). */
  minMoves: number;
  ticksLost: number;
  ticksDuplicated: number;
  oldPodAcceptsAfterCutOver: number;
  /**
   * Peak and p99 of new connections per second at the balancer; the even rate is N over the window the old
   * pods' closes actually used (from the first closing start to the last window end, from their drain reports).
   */
  reconnectsPerSecond: { peak: number; p99: number; evenRate: number; peakOverEven: number; windowSeconds: number };
  /** Each old pod's drain, seconds since the release began (lab time): deleted, closing started, window. */
  drains: { deletedAt: number; closingAt: number | null; windowSeconds: number | null; hold: string | null }[];
  /** Connection attempts a node dropped (ETP Local with only terminating local pods, Kubernetes < 1.26). */
  droppedConnects: number;
  /** The old pods' rollout holds: outcomes and the longest, in real-world seconds. */
  holds: { outcomes: Record<string, number>; longestSeconds: number } | null;
  durationSeconds: number;
  podsMissingDeadline: number;
  connectedAtEnd: number;
  /**
   * Unplanned rows (pods crashed): the most connections the balancer handed one pod in one real-world second
   * (lab time scaled back) after the crash — TCP connections, so upgrades admission control refused count too;
   * the most upgrades one pod accepted in a real second (its own count); the survivors' worst event-loop p99
   * (ms); real seconds from the crash until the last reconnect; Baton clients whose session resumed (from a
   * checkpoint) or started fresh.
   */
  unplanned: {
    peakAcceptsPerPodPerSecond: number;
    /** The most upgrades one pod accepted in one real-world second (its own count: admission refusals excluded). */
    peakAdmittedPerPodPerSecond: number;
    /** The worst one-second p99 of any survivor (nearly that second's maximum: ~100 samples a second). */
    loopP99Ms: number;
    /** The p99 of all the survivors' samples from the crash until every client was back (an upper bound). */
    loopP99StormMs: number;
    secondsUntilAllBack: number;
    resumed: number | null;
    fresh: number | null;
  } | null;
  /** For the charts: connections per version (sampled), reconnects in each second since the release began. */
  series: { connections: { t: number; v1: number; v2: number }[]; reconnects: number[] };
}

// The real-world budget the lab compresses: terminationGracePeriodSeconds 120, propagation 30 s (at least
// what GKE's passthrough LB needs to notice a node without serving pods: 8 s × 3 health checks, docs/kubernetes.md),
// close timeout 5 s, margin 2 s (window 83 s), endpoint propagation lag 5 s, client back-off 1 s doubling to 5 min.
export const REAL = {
  graceMs: 120_000,
  propagationMs: 30_000,
  closeTimeoutMs: 5_000,
  marginMs: 2_000,
  lagMs: 5_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 300_000,
  /** GKE target pool health checks: every 8 s, unhealthy after 3 failures, healthy after 1 success. */
  healthCheckIntervalMs: 8_000,
  /** Linux gives up a connect() whose SYNs go unanswered after 127 s (tcp_syn_retries 6). */
  synTimeoutMs: 127_000,
};

/** The lab's drain budget, scaled: the real one compressed by the time scale (drain-core's rule resolves it). */
function labBudgetInput(scale: (ms: number) => number, propagationMs: number) {
  return {
    gracePeriodMs: scale(REAL.graceMs),
    propagationDelayMs: scale(propagationMs),
    closeTimeoutMs: scale(REAL.closeTimeoutMs),
    safetyMarginMs: scale(REAL.marginMs),
  };
}

function labBudget(scale: (ms: number) => number, propagationMs: number) {
  return resolveDrainBudget(labBudgetInput(scale, propagationMs));
}

/** The real-world budget (window 83 s). */
export const REAL_BUDGET = labBudget((ms) => ms, REAL.propagationMs);

const LAB_HANDOFF_KEYS = [{ id: 'lab', secret: 'lab-only-handoff-secret-'.repeat(2) }];

const gateways = {
  ws: fileURLToPath(new URL('../../../../examples/ws-gateway/server.js', import.meta.url)),
  fastify: fileURLToPath(new URL('../../../../examples/fastify-gateway/server.js', import.meta.url)),
  naive: fileURLToPath(new URL('../../../../examples/naive-gateway/server.js', import.meta.url)),
  relay: fileURLToPath(new URL('../../../relay/dist/cli.js', import.meta.url)),
};

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function runStrategy(run: StrategyRun, options: LabOptions): Promise<StrategyResult> {
  const scale = (ms: number) => Math.max(1, Math.round(ms * options.timeScale));
  const propagationMs = run.propagationSeconds === undefined ? REAL.propagationMs : run.propagationSeconds * 1000;
  const { drainWindowMs: windowMs } = labBudget(scale, propagationMs);
  const dataPath = options.dataPath ?? defaultDataPath();
  const balancerOptions: NodeBalancerOptions = {
    propagationLagMs: scale(REAL.lagMs),
    routing: {
      dataplane: run.dataplane ?? options.dataplane ?? 'kube-proxy',
      externalTrafficPolicy: run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local',
      proxyTerminatingEndpoints: !(run.kubernetesBefore126 ?? options.kubernetesBefore126),
      healthCheck: { intervalMs: scale(REAL.healthCheckIntervalMs), unhealthyThreshold: 3, healthyThreshold: 1 },
      synTimeoutMs: scale(REAL.synTimeoutMs),
    },
  };
  const balancer: LabBalancer =
    dataPath === 'kernel'
      ? new KernelBalancer(balancerOptions)
      : // Two descriptors per client; keep each proxy process well under the 20,000 a process may hold here.
        new NodeBalancer({ ...balancerOptions, workers: Math.ceil(options.clients / 5000) });
  await balancer.listen();
  // Which nodes the cloud LB sends to (externalTrafficPolicy Local), from its own health events.
  const healthyNodes = new Set<string>();
  const healthChanged = new EventEmitter();
  balancer.on('health', (node, healthy) => {
    if (healthy) healthyNodes.add(node);
    else healthyNodes.delete(node);
    healthChanged.emit('change');
  });
  const budget = budgetEnv(labBudgetInput(scale, propagationMs));
  // A tick a (scaled) second, but at most ~4,000 ticks a second for the whole fleet: the lab measures gaps, not
  // throughput, and 20,000 clients ticking 20 times a second would saturate two cores.
  const tickMs = String(Math.max(50, scale(1000), Math.ceil(options.clients / 4)));
  // A relay row: the clients' one relay (in front of the Service), or the one gateway behind released relays.
  // It runs beside the clients, or as a pod of its own.
  const fixed = run.throughRelay
    ? await startGateway(
        gateways.relay,
        { BATON_RELAY_UPSTREAM: `${balancer.url}/`, BATON_RELAY_ID_FIELD: 'id', ...budget },
        { stderr: 'inherit', placement: balancer.clientPlacement() },
      )
    : run.gateway === 'relay'
      ? await startGateway(
          gateways[options.gateway ?? 'ws'],
          {
            APP_VERSION: 'upstream',
            TICK_MS: tickMs,
            ...budget,
            ...drainEnvFrom({ handoffKeys: LAB_HANDOFF_KEYS }),
          },
          { stderr: 'inherit', placement: balancer.placePod('upstream') },
        )
      : undefined;
  const store = new PodStore();
  const api = new KubeApi(store);
  await api.listen();
  // The gateways' rollout hold reaches the pod API from inside their namespaces (kernel data path).
  const apiListener = await balancer.listenerForPods();
  if (apiListener) api.serveOn(apiListener.server, apiListener.host);
  const random = seededRandom(options.seed ?? 1);
  const readiness = scaleReadiness(run.readiness ?? options.readiness ?? { kind: 'immediate' }, scale);
  const environment = {
    replicas: options.replicas,
    balancer,
    store,
    graceMs: scale(REAL.graceMs),
    readiness,
    random,
    script: () => gateways[run.gateway === 'baton' ? (options.gateway ?? 'ws') : run.gateway],
    env: {
      TICK_MS: tickMs,
      ...budget,
      // Relay pods carry their clients to the gateway that stays, dropping a move's duplicates by the ticks' id.
      ...(run.gateway === 'relay' && fixed
        ? { BATON_RELAY_UPSTREAM: `${fixed.url}/`, BATON_RELAY_ID_FIELD: 'id' }
        : {}),
      ...(run.rolloutHold ? { POD_NAMESPACE: LAB_NAMESPACE, KUBECONFIG: api.kubeconfig() } : {}),
      ...drainEnvFrom({
        handoffKeys: LAB_HANDOFF_KEYS,
        ...(run.rolloutHold ? { rolloutHold: 'kubernetes', kubernetesTimeoutMs: scale(5_000) } : {}),
        ...(run.minWindowShare === undefined ? {} : { minWindowShare: run.minWindowShare }),
        // Rates are real-world: the lab's time runs 1/timeScale faster, so its rates are that much higher.
        ...(run.admission
          ? {
              admission: {
                maxAcceptsPerSecond: run.admission.maxAcceptsPerSecond / options.timeScale,
                burst: run.admission.burst,
              },
            }
          : {}),
        // Checkpoints every 5 real-world seconds (the example gateways' default), scaled like every duration.
        checkpointIntervalMs: scale(5_000),
      }),
      // Event-loop delay of every pod, logged each (scaled) second: the survivors' p99 during a storm.
      BATON_LOOP_STATS_MS: String(Math.max(10, scale(1000))),
    },
  };
  const cluster = new Cluster(environment);
  await cluster.createReady('v1', options.replicas);
  if ((run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local') === 'Local') {
    // The fleet connects only once the LB sends to every node, so each pod holds its share when the release or
    // the crash comes. Pods become ready between two health checks; until the next one the LB sends only to
    // the nodes it saw healthy, so a fleet connecting then piles onto one or two pods (seen: 896 of 1,000 on
    // one), and a row's outcome then depends on whether that pod goes first or last.
    const nodes = cluster.live('v1').map((pod) => pod.name);
    while (!nodes.every((node) => healthyNodes.has(node))) await once(healthChanged, 'change');
  }
  const clientNamespace = balancer.clientPlacement().namespace;
  const fleet = await Fleet.start({
    url: run.throughRelay && fixed ? fixed.url : balancer.url,
    ...(clientNamespace ? { namespace: clientNamespace } : {}),
    clients: options.clients,
    kind: run.clients,
    initialDelayMs: scale(REAL.backoffInitialMs),
    maxDelayMs: scale(REAL.backoffMaxMs),
    rampMs: scale(10_000),
  });
  const deployment = controllerFor(run.strategy, cluster, options.replicas);
  let timeline: ReleaseTimeline | undefined;
  let rollback: ReleaseTimeline | undefined;
  try {
    // Connecting the fleet is set-up, not release time: bounded by the fleet's size, not the time scale.
    await waitUntil(
      async () => (await fleet.connected()) === options.clients,
      Math.max(scale(60_000), 20_000 + options.clients * 5),
    );
    const before = await fleet.report();
    // Set-up counts for nothing: connects the balancer dropped while the first pods' endpoints propagated.
    await balancer.settle();
    const droppedBefore = balancer.dropped;
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
      const replaced = cluster.live('v1');
      const forward = perform(run.strategy, cluster, deployment, scale);
      if (run.rollbackAfterWindowShare !== undefined && deployment) {
        // Roll back part-way through the forward release's drain: once every pod it replaces was deleted and
        // began closing (an event, not a time since the first deletion — the new pods' start-up jitter on two
        // busy cores would otherwise decide whether the rollback overtakes the forward cut-over, and with it
        // which pods hold and how far each client moves), then a share of the window later.
        await cluster.until(() => replaced.every((pod) => pod.deletedAt !== undefined));
        await Promise.all(
          replaced.map(async (pod) =>
            (await pod.started).process.waitForLog((line) => line.msg === 'baton: closing', scale(REAL.graceMs)),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, windowMs * (run.rollbackAfterWindowShare as number)));
        rollback = await deployment.rollout('v1');
      }
      timeline = await forward;
      // The release is over for the clients once they are all back (bounded by the longest back-off).
      await waitUntil(async () => (await fleet.connected()) === options.clients, scale(REAL.backoffMaxMs) + 5_000);
    } finally {
      clearInterval(sampler);
    }
    await balancer.settle();
    const records = subtract(await fleet.report(), before);
    const releases = rollback ? [timeline, rollback] : [timeline];
    const result = measure(run, options, releases, records, balancer, windowMs, scale(REAL.graceMs), scale(REAL.lagMs));
    const lost =
      balancer.eventsLost > 0 ? ` (conntrack lost events ${balancer.eventsLost}×: accepts are a lower bound)` : '';
    result.model = `${describeModel(run, options, readiness, scale)}; ${
      dataPath === 'kernel' ? `kernel data path${lost}` : 'Node balancer data path'
    }`;
    if (run.strategy.kind === 'crash')
      result.unplanned = unplannedFigures(run, options, timeline, records, balancer, cluster);
    result.droppedConnects -= droppedBefore;
    result.series.connections = connections;
    return result;
  } finally {
    deployment?.stop();
    await fleet.stop();
    await cluster.killAll();
    await balancer.close();
    await api.close();
    await fixed?.stop();
  }
}

/** Only what happened during the release counts. */
function subtract(after: ClientRecord[], before: ClientRecord[]): ClientRecord[] {
  return after.map((record, i) => {
    const base = before[i] as ClientRecord;
    return {
      ...record,
      disconnects: record.disconnects - base.disconnects,
      closeCodes: record.closeCodes.slice(base.closeCodes.length),
      migrations: record.migrations - base.migrations,
      resumed: record.resumed - base.resumed,
      resumeFailed: record.resumeFailed - base.resumeFailed,
      ticksLost: record.ticksLost - base.ticksLost,
      ticksDuplicated: record.ticksDuplicated - base.ticksDuplicated,
    };
  });
}

function sessionsSurvive(run: StrategyRun): boolean {
  return run.clients === 'baton' || run.throughRelay === true;
}

function histogram(values: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function measure(
  run: StrategyRun,
  options: LabOptions,
  releases: ReleaseTimeline[],
  records: ClientRecord[],
  balancer: LabBalancer,
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
  const drains = releases.flatMap((r) => r.oldPods).map(drainReportOf);
  const used = usedWindowMs(drains, windowMs);
  const evenRate = options.clients / (used / 1000);
  const peak = Math.max(0, ...perSecond);
  const holdReports = drains.flatMap((report) => (report?.hold ? [report.hold] : []));
  const outcomes: Record<string, number> = {};
  for (const hold of holdReports) outcomes[hold.outcome] = (outcomes[hold.outcome] ?? 0) + 1;
  const disconnects = records.map((r) => r.disconnects);
  return {
    name: run.name,
    model: '',
    dataPath: balancer.dataPath,
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
    closeCodes: histogram(records.flatMap((r) => r.closeCodes)),
    sessionsTracked: sessionsSurvive(run),
    maxMoves: Math.max(0, ...records.map((r) => r.disconnects + r.migrations)),
    minMoves: Math.min(...records.map((r) => r.disconnects + r.migrations)),
    // Sessions survive only a Baton move (its client's or its relay's); plain clients start new ones.
    ticksLost: sessionsSurvive(run) ? records.reduce((a, r) => a + r.ticksLost, 0) : 0,
    ticksDuplicated: sessionsSurvive(run) ? records.reduce((a, r) => a + r.ticksDuplicated, 0) : 0,
    oldPodAcceptsAfterCutOver: lateAccepts,
    reconnectsPerSecond: {
      peak,
      p99: percentile(perSecond, 99),
      evenRate,
      peakOverEven: peak / evenRate,
      windowSeconds: used / 1000,
    },
    drains: releases
      .flatMap((r) => r.oldPods)
      .map((pod, i) => {
        const report = drains[i];
        const since = (at: number) => Math.round(at - timeline.startedAt) / 1000;
        return {
          deletedAt: since(pod.deletedAt),
          closingAt: report?.closingAt ? since(report.closingAt) : null,
          windowSeconds: report?.closingAt ? (report.hold?.windowMs ?? windowMs) / 1000 : null,
          hold: report?.hold ? `${report.hold.outcome} (${report.hold.reason})` : null,
        };
      }),
    droppedConnects: balancer.dropped,
    holds:
      holdReports.length === 0
        ? null
        : {
            outcomes,
            longestSeconds: Math.max(...holdReports.map((hold) => hold.heldMs)) / 1000 / options.timeScale,
          },
    durationSeconds: (Date.now() - timeline.startedAt) / 1000,
    podsMissingDeadline: releases.flatMap((r) => r.oldPods).filter((pod) => pod.exitedAt - pod.deletedAt > graceMs)
      .length,
    connectedAtEnd: count((r) => r.connected),
    unplanned: null,
    series: { connections: [], reconnects },
  };
}

/** What a crash cost the survivors and the clients (see StrategyResult.unplanned). */
function unplannedFigures(
  run: StrategyRun,
  options: LabOptions,
  timeline: ReleaseTimeline,
  records: ClientRecord[],
  balancer: LabBalancer,
  cluster: Cluster,
): NonNullable<StrategyResult['unplanned']> {
  const crashAt = timeline.startedAt;
  // Bins of one real-world second (the lab runs 1/timeScale faster): counts are accepts per real second.
  const binMs = 1000 * options.timeScale;
  const perPodSecond = new Map<string, number>();
  let lastAccept = crashAt;
  for (const accept of balancer.accepts) {
    if (accept.at < crashAt) continue;
    const key = `${accept.port}:${Math.floor((accept.at - crashAt) / binMs)}`;
    perPodSecond.set(key, (perPodSecond.get(key) ?? 0) + 1);
    lastAccept = Math.max(lastAccept, accept.at);
  }
  const crashed = new Set(timeline.oldPods);
  // Every pod that did not crash, survivors and replacements, with its loop lines since the crash.
  const serving = cluster.pods.flatMap((pod) =>
    pod.process && !crashed.has(pod.process)
      ? [{ pod, lines: pod.process.lines.filter((line) => line.msg === 'loop' && line.time >= crashAt) }]
      : [],
  );
  const loopLines = serving.flatMap(({ lines }) => lines);
  // The survivors' loops: pods that served before the crash (a replacement's first seconds are its start-up).
  const survivorLines = serving.filter(({ pod }) => pod.createdAt < crashAt).flatMap(({ lines }) => lines);
  const loopP99 = survivorLines.map((line) => Number(line.p99Ms));
  // Lines are logged at the end of their interval: the storm's are those up to one interval past the last accept.
  const stormLines = survivorLines.filter((line) => line.time <= lastAccept + binMs);
  const loopP99Storm = pooledPercentile(
    stormLines.map((line) => ({ count: Number(line.count ?? 0), cdf: (line.cdf ?? []) as [number, number][] })),
  );
  const baton = run.clients === 'baton';
  const hit = records.filter((r) => r.disconnects > 0 || r.resumed > 0);
  return {
    peakAcceptsPerPodPerSecond: Math.max(0, ...perPodSecond.values()),
    // Loop lines come every real-world second of lab time: their `accepted` is per real second.
    peakAdmittedPerPodPerSecond: Math.max(0, ...loopLines.map((line) => Number(line.accepted))),
    loopP99Ms: Math.max(0, ...loopP99),
    loopP99StormMs: loopP99Storm,
    secondsUntilAllBack: (lastAccept - crashAt) / 1000 / options.timeScale,
    resumed: baton ? hit.filter((r) => r.resumed > 0).length : null,
    fresh: baton ? hit.filter((r) => r.resumed === 0).length : null,
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

interface DrainedReport {
  closingAt?: number;
  hold?: { outcome: string; reason: string; heldMs: number; windowMs: number };
}

/** The drain report a Baton pod logged when drained (the naive gateway logs none). */
function drainReportOf(pod: PodProcess): DrainedReport | undefined {
  const line = pod.lines.find((entry) => entry.msg === 'drained' && typeof entry.report === 'object');
  return line?.report as DrainedReport | undefined;
}

/**
 * The span the old pods' closes actually used: from the first closing start to the last window end. A hold
 * shortens and aligns the windows, so N/W over the configured window would flatter or wrong it.
 */
function usedWindowMs(reports: (DrainedReport | undefined)[], configuredWindowMs: number): number {
  const spans = reports.flatMap((report) =>
    report?.closingAt ? [[report.closingAt, report.closingAt + (report.hold?.windowMs ?? configuredWindowMs)]] : [],
  );
  if (spans.length === 0) return configuredWindowMs;
  const start = Math.min(...spans.map(([from]) => from as number));
  const end = Math.max(...spans.map(([, to]) => to as number));
  return Math.max(1, end - start);
}

/** The readiness model in the lab's compressed time. */
function scaleReadiness(model: ReadinessModel, scale: (ms: number) => number): ReadinessModel {
  if (model.kind === 'uniform') return { kind: 'uniform', spreadMs: scale(model.spreadMs) };
  if (model.kind === 'new-node') return { ...model, waitMs: scale(model.waitMs) };
  return model;
}

function describeModel(
  run: StrategyRun,
  options: LabOptions,
  readiness: ReadinessModel,
  scale: (ms: number) => number,
): string {
  const real = (ms: number) => `${(ms / scale(1_000)).toFixed(0)} s`;
  const strategy = {
    rolling:
      run.strategy.kind === 'rolling'
        ? `RollingUpdate maxSurge ${run.strategy.maxSurge} maxUnavailable ${run.strategy.maxUnavailable}`
        : '',
    'rolling-then-hpa-scale-down': 'RollingUpdate maxSurge 100%, then HPA scale-down by 1 right after',
    'selector-flip': 'selector flip',
    'two-deployments': 'second Deployment, then the first scaled to 0',
    'argo-blue-green': `Argo Rollouts blue/green, scaleDownDelaySeconds ${
      run.strategy.kind === 'argo-blue-green' ? run.strategy.scaleDownDelayMs / 1000 : 0
    }`,
    'argo-blue-green-abort': `Argo Rollouts blue/green aborted before promotion, abortScaleDownDelaySeconds ${
      run.strategy.kind === 'argo-blue-green-abort' ? run.strategy.abortScaleDownDelayMs / 1000 : 0
    }`,
    'node-surge-upgrade': 'surge node-pool upgrade, PDB maxUnavailable 1',
    'spot-preemption': 'spot node preempted (SIGKILL 15–25 s after SIGTERM)',
    crash: `${run.strategy.kind === 'crash' ? run.strategy.pods : 0} pod(s) SIGKILLed at once, no drain`,
  }[run.strategy.kind];
  const ready =
    readiness.kind === 'uniform'
      ? `ready over ${real(readiness.spreadMs)}`
      : readiness.kind === 'new-node'
        ? `${Math.round(readiness.share * 100)} % wait ${real(readiness.waitMs)} for a node`
        : 'ready at once';
  const dataplane = (run.dataplane ?? options.dataplane) === 'dpv2' ? 'Dataplane V2 model' : 'kube-proxy';
  const etp = run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local';
  const before126 = run.kubernetesBefore126 ?? options.kubernetesBefore126;
  const traffic =
    etp === 'Local'
      ? `ETP Local, LB health check 8 s × 3, Kubernetes ${before126 ? '< 1.26' : '≥ 1.26'}`
      : 'ETP Cluster';
  const hold =
    (run.rolloutHold ? `hold (min window ${run.minWindowShare ?? 0.5})` : 'no hold') +
    (run.admission ? `, admission ${run.admission.maxAcceptsPerSecond}/s burst ${run.admission.burst}` : '');
  const propagation = `propagation ${run.propagationSeconds ?? REAL.propagationMs / 1000} s`;
  const relay = run.throughRelay
    ? '; plain clients through one @baton/relay (--id-field id)'
    : run.gateway === 'relay'
      ? '; the pods released are @baton/relay in front of one gateway that stays'
      : '';
  return `${strategy}; ${ready}; ${dataplane}; ${traffic}; ${propagation}; ${hold}; ${options.replicas} replicas, one per node${relay}`;
}

/** The strategies that run under a Deployment controller (the ReplicaSet replaces deleted pods). */
function controllerFor(strategy: Strategy, cluster: Cluster, replicas: number): DeploymentController | undefined {
  if (strategy.kind === 'rolling') return new DeploymentController(cluster, strategy, 'v1');
  if (
    strategy.kind === 'rolling-then-hpa-scale-down' ||
    strategy.kind === 'node-surge-upgrade' ||
    strategy.kind === 'spot-preemption' ||
    strategy.kind === 'crash'
  ) {
    return new DeploymentController(cluster, { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 }, 'v1');
  }
  return undefined;
}

/** Run the strategy's release (or disruption) on the cluster; resolves when its old pods are gone. */
async function perform(
  strategy: Strategy,
  cluster: Cluster,
  deployment: DeploymentController | undefined,
  scale: (ms: number) => number,
): Promise<ReleaseTimeline> {
  switch (strategy.kind) {
    case 'rolling':
      return (deployment as DeploymentController).rollout('v2');
    case 'rolling-then-hpa-scale-down': {
      const controller = deployment as DeploymentController;
      const timeline = await controller.rollout('v2');
      // Right after the release (no stabilisation window): the HPA removes one of the pods the clients just
      // moved to, and that pod drains them a second time.
      const before = new Set(cluster.pods.filter((pod) => pod.deletedAt !== undefined));
      controller.scale(cluster.environment.replicas - 1);
      const removed = cluster.pods.filter((pod) => pod.deletedAt !== undefined && !before.has(pod));
      await cluster.until(() => removed.every((pod) => pod.exited));
      return { ...timeline, oldPods: [...timeline.oldPods, ...(await Promise.all(removed.map((pod) => pod.started)))] };
    }
    case 'selector-flip':
      return selectorFlip(cluster, 'v2');
    case 'two-deployments':
      return twoDeployments(cluster, 'v2');
    case 'argo-blue-green':
      return argoBlueGreen(cluster, 'v2', scale(strategy.scaleDownDelayMs));
    case 'argo-blue-green-abort':
      return argoBlueGreenAbort(cluster, 'v2', scale(strategy.abortScaleDownDelayMs));
    case 'node-surge-upgrade':
      return nodeSurgeUpgrade(cluster, deployment as DeploymentController);
    case 'crash': {
      // The clients have been connected a while when the pods die: at least one checkpoint interval (5 real
      // seconds), as in a cluster where a crash is not timed to the clients' arrival.
      await new Promise((resolve) => setTimeout(resolve, scale(6_000)));
      const startedAt = Date.now();
      const victims = cluster.live('v1').slice(0, strategy.pods);
      if (victims.length < strategy.pods) throw new Error(`lab: fewer than ${strategy.pods} pods to crash`);
      for (const victim of victims) cluster.crash(victim);
      const { replicas } = cluster.environment;
      await cluster.until(() => victims.every((victim) => victim.exited) && cluster.available() >= replicas);
      return {
        startedAt,
        cutOverAt: startedAt,
        finishedAt: Date.now(),
        oldPods: await Promise.all(victims.map((victim) => victim.started)),
        newPods: [],
      };
    }
    case 'spot-preemption': {
      const startedAt = Date.now();
      const [victim] = cluster.live('v1');
      if (!victim) throw new Error('lab: no pod to preempt');
      cluster.preempt(victim, scale(15_000 + cluster.environment.random() * 10_000));
      const { replicas } = cluster.environment;
      await cluster.until(() => victim.exited && cluster.available() >= replicas);
      return {
        startedAt,
        cutOverAt: victim.deletedAt as number,
        finishedAt: Date.now(),
        oldPods: [await victim.started],
        newPods: [],
      };
    }
  }
}
