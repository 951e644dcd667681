// Runs one strategy end to end — pods, balancer, fleet, release — and measures what the clients went through.

import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drainEnvFrom } from '@baton/drain-core';
import { type ClientRecord, Fleet, runFromRecords, since, summarize } from '@baton/probe';
import { KubeApi } from '../cluster/kube-api.js';
import { LAB_NAMESPACE, PodStore } from '../cluster/pod-store.js';
import { Cluster, type DeploymentController, type LabPod, type ReleaseTimeline } from '../cluster/release.js';
import { KernelBalancer } from '../datapath/kernel/kernel-balancer.js';
import { inNamespace } from '../datapath/kernel/netns.js';
import type { DataPath, LabBalancer, Placement } from '../datapath/lab-balancer.js';
import { NodeBalancer, type NodeBalancerOptions } from '../datapath/node/node-balancer.js';
import { lbHealthCheck } from '../datapath/node/proxy-core.js';
import { budgetEnv, type GatewayProcess, startGateway } from '../harness/gateway-launcher.js';
import { recordOf } from '../strategies/kinds.js';
import { drainReportOf, measure, unplannedFigures, usedWindowMs } from './measure.js';
import { describeModel, scaleReadiness } from './model-line.js';
import { seededRandom } from './random.js';
import { labBudget, labBudgetInput, REAL } from './real-world.js';
import type { LabOptions, StrategyResult, StrategyRun } from './types.js';

export { REAL, REAL_BUDGET } from './real-world.js';
export type { LabOptions, StrategyResult, StrategyRun } from './types.js';

/** The data path a lab run uses when none is asked for: the kernel's where it can run here. */
export function defaultDataPath(): DataPath {
  return KernelBalancer.available() ? 'kernel' : 'node';
}

// A fresh key per lab process, as a deployment's Secret holds one (drain-core refuses patterned test keys).
const LAB_HANDOFF_KEYS = [{ id: 'lab', secret: randomBytes(32).toString('base64') }];

const gateways = {
  ws: fileURLToPath(new URL('../../../../examples/ws-gateway/server.js', import.meta.url)),
  fastify: fileURLToPath(new URL('../../../../examples/fastify-gateway/server.js', import.meta.url)),
  naive: fileURLToPath(new URL('../../../../examples/naive-gateway/server.js', import.meta.url)),
  relay: fileURLToPath(new URL('../../../relay/dist/cli.js', import.meta.url)),
};

/** The lab's clock for one run: real-world durations compressed by the time scale. */
type Scale = (ms: number) => number;

/** What one run started, stopped in reverse order whatever happens (a failed set-up too). */
class Teardown {
  readonly #steps: (() => unknown)[] = [];
  add(step: () => unknown): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step();
  }
}

export async function runStrategy(run: StrategyRun, options: LabOptions): Promise<StrategyResult> {
  const scale: Scale = (ms) => Math.max(1, Math.round(ms * options.timeScale));
  const propagationMs = run.propagationSeconds === undefined ? REAL.propagationMs : run.propagationSeconds * 1000;
  const { drainWindowMs: windowMs } = labBudget(scale, propagationMs);
  const teardown = new Teardown();
  try {
    const balancer = balancerFor(run, options, scale);
    teardown.add(() => balancer.close());
    const health = trackLbHealth(balancer);
    await balancer.listen();
    const budget = budgetEnv(labBudgetInput(scale, propagationMs));
    // A tick a (scaled) second, but at most ~4,000 ticks a second for the whole fleet: the lab measures gaps,
    // not throughput, and 20,000 clients ticking 20 times a second would saturate two cores.
    const tickMs = String(Math.max(50, scale(1000), Math.ceil(options.clients / 4)));
    const fixed = await startFixedProcess(run, options, balancer, { ...budget, TICK_MS: tickMs });
    if (fixed) teardown.add(() => fixed.stop());
    const store = new PodStore();
    const api = new KubeApi(store);
    await api.listen();
    teardown.add(() => api.close());
    // The gateways' rollout hold reaches the pod API from inside their namespaces (kernel data path).
    const apiListener = await balancer.listenerForPods();
    if (apiListener) api.serveOn(apiListener.server, apiListener.host);
    const readiness = scaleReadiness(run.readiness ?? options.readiness ?? { kind: 'immediate' }, scale);
    const cluster = new Cluster({
      replicas: options.replicas,
      balancer,
      store,
      graceMs: scale(REAL.graceMs),
      readiness,
      random: seededRandom(options.seed ?? 1),
      script: () => gateways[run.gateway === 'baton' ? (options.gateway ?? 'ws') : run.gateway],
      env: { TICK_MS: tickMs, ...budget, ...podEnv(run, options, scale, { api, fixedUrl: fixed?.url }) },
      ...(run.rebalanceSeconds === undefined ? {} : rebalanceEnv(run, balancer, options.replicas, scale)),
    });
    teardown.add(() => cluster.killAll());
    await cluster.createReady('v1', options.replicas);
    if ((run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local') === 'Local') {
      // The fleet connects only once the LB sends to every node, so each pod holds its share when the release
      // or the crash comes. Pods become ready between two health checks; until the next one the LB sends only
      // to the nodes it saw healthy, so a fleet connecting then piles onto one or two pods (896 of 1,000 on one
      // pod, once), and a row's outcome then depends on whether that pod goes first or last.
      await health.untilHealthy(cluster.live('v1').map((pod) => pod.name));
    }
    const clientNamespace = balancer.clientPlacement().namespace;
    // The probe's own fleet (@baton/probe): the lab's figures and a probe's are computed by the same code.
    const fleet = await Fleet.start({
      url: run.throughRelay && fixed ? fixed.url : balancer.url,
      ...(clientNamespace
        ? { wrap: (command: string, args: string[]) => inNamespace(clientNamespace, command, args) }
        : {}),
      clients: options.clients,
      kind: run.clients,
      initialDelayMs: scale(REAL.backoffInitialMs),
      maxDelayMs: scale(REAL.backoffMaxMs),
      rampMs: scale(10_000),
    });
    teardown.add(() => fleet.stop());
    const kind = recordOf(run.strategy);
    const deployment = kind.controller(run.strategy, cluster, options.replicas);
    teardown.add(() => deployment?.stop());

    // Connecting the fleet is set-up, not release time: bounded by the fleet's size, not the time scale.
    await waitUntil(
      async () => (await fleet.connected()) === options.clients,
      Math.max(scale(60_000), 20_000 + options.clients * 5),
    );
    const before = await fleet.report();
    // Set-up counts for nothing: connects the balancer dropped while the first pods' endpoints propagated.
    await balancer.settle();
    const droppedBefore = balancer.dropped;
    const replaced = cluster.live('v1');
    const balance = run.strategy.kind === 'hpa-scale-out' ? sampleBalance(balancer, cluster, scale) : undefined;
    const forward = kind.release({ strategy: run.strategy, cluster, deployment, scale });
    const rollback =
      run.rollbackAfterWindowShare !== undefined && deployment
        ? await rollBack(cluster, deployment, replaced, windowMs * run.rollbackAfterWindowShare, scale)
        : undefined;
    const releases = rollback ? [await forward, rollback] : [await forward];
    // The release is over for the clients once they are all back (bounded by the longest back-off).
    await waitUntil(async () => (await fleet.connected()) === options.clients, scale(REAL.backoffMaxMs) + 5_000);
    await balancer.settle();
    const whole = await fleet.report();
    const records = whole.map((record, i) => since(record, before[i] as typeof record));
    const startedAt = (releases[0] as ReleaseTimeline).startedAt;
    // The probe's figures of the same run, in real seconds: one bin per second of the lab's clock.
    const probe = summarize(
      // Every connection (those before the release show what was open when it began), the release's outcomes.
      runFromRecords(
        records.map((record, i) => ({ ...record, connections: (whole[i] as typeof record).connections })),
        { startedAt, endedAt: Date.now(), kind: run.clients, timeScale: options.timeScale },
      ),
      {
        binSeconds: 1 / options.timeScale,
        outgoingVersion: 'v1',
        // Judged, as the lab's own figure, against the window the old pods' closes actually used.
        // No drain window to judge against: a crash, a scale-out.
        ...(run.strategy.kind === 'crash' || run.strategy.kind === 'hpa-scale-out'
          ? {}
          : {
              windowSeconds:
                usedWindowMs(releases.flatMap((r) => r.oldPods).map(drainReportOf), windowMs) /
                1000 /
                options.timeScale,
            }),
      },
    );
    const result = measure(
      run,
      options,
      releases,
      records,
      balancer,
      windowMs,
      scale(REAL.graceMs),
      scale(REAL.lagMs),
      {
        probe,
        acceptAudit: acceptAudit(balancer, cluster, whole),
      },
    );
    const lost =
      balancer.eventsLost > 0 ? ` (conntrack lost events ${balancer.eventsLost}×: accepts are a lower bound)` : '';
    result.model = `${describeModel(run, options, readiness, scale)}; ${
      balancer.dataPath === 'kernel' ? `kernel data path${lost}` : 'Node balancer data path'
    }`;
    if (run.strategy.kind === 'crash')
      result.unplanned = unplannedFigures(run, options, releases[0] as ReleaseTimeline, records, balancer, cluster);
    result.droppedConnects -= droppedBefore;
    if (balance) result.balance = balance.stop((releases[0] as ReleaseTimeline).cutOverAt, options.timeScale);
    return result;
  } finally {
    await teardown.run();
  }
}

/** The admin port of every lab pod when rebalancing: each pod has an address of its own (Placement.adminHost). */
const LAB_ADMIN_PORT = 19_290;

/**
 * A rebalancing row's pods: each serves its admin on its own address and reads every pod slot's there (a slot
 * with no pod yet does not answer, as a headless Service lists only the pods that exist), with its own proof
 * file (the port is the same for all, and on the Node data path they share /tmp).
 */
function rebalanceEnv(run: StrategyRun, balancer: LabBalancer, replicas: number, scale: Scale) {
  const slots = run.strategy.kind === 'hpa-scale-out' ? run.strategy.to : replicas * 2;
  const peers = Array.from({ length: slots }, (_, i) => `http://${balancer.adminHostOf(i + 1)}:${LAB_ADMIN_PORT}`);
  const horizonMs = Math.max(1_000, scale((run.rebalanceSeconds as number) * 1000));
  return {
    envOf: ({ name, placement }: { name: string; placement: Placement }) => ({
      ADMIN_HOST: placement.adminHost ?? '127.0.0.1',
      ADMIN_PORT: String(LAB_ADMIN_PORT),
      BATON_ADMIN_PROOF_FILE: join(tmpdir(), `baton-lab-${process.pid}-${name}.proof`),
      ...drainEnvFrom({ rebalance: { horizonMs, peers } }),
    }),
  };
}

/**
 * Connections per pod while a scale-out row runs: the data path's established flows per live pod, once a lab
 * second. stop() reduces them, from the new pods' readiness on, to the figures of StrategyResult.balance.
 */
function sampleBalance(balancer: LabBalancer, cluster: Cluster, scale: Scale) {
  const samples: { at: number; counts: number[] }[] = [];
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    const flows = await balancer.openFlows();
    const ports = cluster.pods
      .filter((pod) => pod.readyAt !== undefined && !pod.exited)
      .map((pod) => pod.process?.port);
    samples.push({ at: Date.now(), counts: ports.map((port) => (port === undefined ? 0 : (flows.get(port) ?? 0))) });
    if (!stopped) setTimeout(() => void tick(), scale(1_000));
  };
  void tick();
  return {
    stop(readyAt: number, timeScale: number): NonNullable<StrategyResult['balance']> {
      stopped = true;
      const ratio = (counts: number[]) => {
        const total = counts.reduce((a, b) => a + b, 0);
        return total === 0 ? 1 : Math.max(...counts) / (total / counts.length);
      };
      const after = samples.filter((sample) => sample.at >= readyAt);
      const series = after.map(({ at, counts }) => {
        const mean = counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length);
        return { t: (at - readyAt) / 1000 / timeScale, max: Math.max(0, ...counts), mean };
      });
      // Balanced from the first sample at or under 1.25 after which every sample stays there.
      let firstBalanced: number | undefined;
      for (let i = after.length - 1; i >= 0; i--) {
        if (ratio((after[i] as { counts: number[] }).counts) > 1.25) break;
        firstBalanced = i;
      }
      const last = after.at(-1)?.counts ?? [];
      return {
        secondsToBalance: firstBalanced === undefined ? null : (series[firstBalanced] as { t: number }).t,
        finalRatio: ratio(last),
        finalCounts: last,
        series,
      };
    },
  };
}

/** The Service's data path for this run: the kernel's or the Node balancer, with the row's routing. */
function balancerFor(run: StrategyRun, options: LabOptions, scale: Scale): LabBalancer {
  const externalTrafficPolicy = run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local';
  const lbKind = run.lbKind ?? options.lbKind ?? 'backend-service';
  const check = lbHealthCheck(lbKind, externalTrafficPolicy);
  const balancerOptions: NodeBalancerOptions = {
    propagationLagMs: scale(REAL.lagMs),
    routing: {
      dataplane: run.dataplane ?? options.dataplane ?? 'kube-proxy',
      externalTrafficPolicy,
      lbKind,
      proxyTerminatingEndpoints: !(run.kubernetesBefore126 ?? options.kubernetesBefore126),
      healthCheck: { ...check, intervalMs: scale(check.intervalMs) },
      synTimeoutMs: scale(REAL.synTimeoutMs),
    },
  };
  return (options.dataPath ?? defaultDataPath()) === 'kernel'
    ? new KernelBalancer(balancerOptions)
    : // Two descriptors per client; keep each proxy process well under the 20,000 a process may hold here.
      new NodeBalancer({ ...balancerOptions, workers: Math.ceil(options.clients / 5000) });
}

/** Which nodes the cloud LB sends to (externalTrafficPolicy Local), from its own health events. */
function trackLbHealth(balancer: LabBalancer) {
  const healthy = new Set<string>();
  const changed = new EventEmitter();
  balancer.on('health', (node, isHealthy) => {
    if (isHealthy) healthy.add(node);
    else healthy.delete(node);
    changed.emit('change');
  });
  return {
    async untilHealthy(nodes: string[]): Promise<void> {
      while (!nodes.every((node) => healthy.has(node))) await once(changed, 'change');
    },
  };
}

/**
 * A relay row's process that is not released: the clients' one relay in front of the Service (it runs beside
 * the clients), or the one gateway behind the released relays (a pod of its own). Undefined for other rows.
 */
async function startFixedProcess(
  run: StrategyRun,
  options: LabOptions,
  balancer: LabBalancer,
  env: Record<string, string>,
): Promise<GatewayProcess | undefined> {
  if (run.throughRelay) {
    return startGateway(
      gateways.relay,
      { ...env, BATON_RELAY_UPSTREAM: `${balancer.url}/`, BATON_RELAY_ID_FIELD: 'id' },
      { stderr: 'inherit', placement: balancer.clientPlacement() },
    );
  }
  if (run.gateway !== 'relay') return undefined;
  return startGateway(
    gateways[options.gateway ?? 'ws'],
    { ...env, APP_VERSION: 'upstream', ...drainEnvFrom({ handoffKeys: LAB_HANDOFF_KEYS }) },
    { stderr: 'inherit', placement: balancer.placePod('upstream') },
  );
}

/** The pods' environment beyond the budget and the tick: the row's hold, share, admission, checkpoints. */
function podEnv(
  run: StrategyRun,
  options: LabOptions,
  scale: Scale,
  { api, fixedUrl }: { api: KubeApi; fixedUrl: string | undefined },
): Record<string, string> {
  return {
    // Relay pods carry their clients to the gateway that stays, dropping a move's duplicates by the ticks' id.
    ...(run.gateway === 'relay' && fixedUrl
      ? { BATON_RELAY_UPSTREAM: `${fixedUrl}/`, BATON_RELAY_ID_FIELD: 'id' }
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
  };
}

/**
 * Every connection that reached a pod since the fleet started, by the pod's version, counted twice: by the data
 * path (the balancer's log, or conntrack's NEW events: at the SYN) and by the probe's clients (upgrades accepted
 * or refused: at the answer). The whole run, not the release's span, so that a connection whose SYN came just
 * before the release and its answer after it (a busy pod's backlog) is in both counts.
 */
function acceptAudit(balancer: LabBalancer, cluster: Cluster, records: ClientRecord[]): StrategyResult['acceptAudit'] {
  const dataPath: Record<string, number> = {};
  for (const accept of balancer.accepts) {
    const version = cluster.versionOf(accept.port) ?? 'unknown';
    dataPath[version] = (dataPath[version] ?? 0) + 1;
  }
  const probe: Record<string, number> = {};
  for (const record of records) {
    for (const { version } of [...record.connections, ...record.refusals]) probe[version] = (probe[version] ?? 0) + 1;
  }
  return { dataPath, probe };
}

/**
 * Roll back part-way through the forward release's drain: once every pod it replaces was deleted and began
 * closing (an event, not a time since the first deletion — the new pods' start-up jitter on two busy cores
 * would otherwise decide whether the rollback overtakes the forward cut-over, and with it which pods hold and
 * how far each client moves), then `afterMs` later.
 */
async function rollBack(
  cluster: Cluster,
  deployment: DeploymentController,
  replaced: LabPod[],
  afterMs: number,
  scale: Scale,
): Promise<ReleaseTimeline> {
  await cluster.until(() => replaced.every((pod) => pod.deletedAt !== undefined));
  await Promise.all(
    replaced.map(async (pod) =>
      (await pod.started).process.waitForLog((line) => line.msg === 'baton: closing', scale(REAL.graceMs)),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  return deployment.rollout('v1');
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A bounded poll of the fleet's own reports: the lab's clocks are the processes', not a test's.
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`lab: condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
