// The release strategies the lab knows, one record per kind: the Kubernetes parameters a row gives it (the
// Strategy union), the controller it runs under, the steps of its release on the lab's cluster, and the line
// that describes it in the report. A new strategy is one entry here (and its rows in rows.ts).

import {
  argoBlueGreen,
  argoBlueGreenAbort,
  type Cluster,
  DeploymentController,
  nodeSurgeUpgrade,
  type ReleaseTimeline,
  type RollingStrategy,
  selectorFlip,
  twoDeployments,
} from '../cluster/release.js';

export type Strategy =
  | RollingStrategy
  /** A rollout (maxSurge 100 %), then the HPA removes one pod as soon as the old pods are gone. */
  | { kind: 'rolling-then-hpa-scale-down' }
  | { kind: 'selector-flip' }
  /** A second Deployment for v2, fully available, then v1 scaled to 0 (every old pod deleted at once). */
  | { kind: 'two-deployments' }
  /**
   * Argo Rollouts blue/green: the preview ReplicaSet fully available, the active Service's selector flipped
   * to it, the old ReplicaSet scaled to 0 after scaleDownDelaySeconds (Argo's default 30 s).
   */
  | { kind: 'argo-blue-green'; scaleDownDelayMs: number }
  /**
   * The same rollout aborted before promotion: the active Service never leaves the stable pods; the preview
   * ReplicaSet is scaled to 0 after abortScaleDownDelaySeconds (Argo's default 30 s).
   */
  | { kind: 'argo-blue-green-abort'; abortScaleDownDelayMs: number }
  /** A surge node-pool upgrade: nodes drained one at a time, each eviction waiting for the PDB (maxUnavailable 1). */
  | { kind: 'node-surge-upgrade' }
  /** One spot node preempted: SIGTERM, then SIGKILL 15–25 s later whatever the grace period. */
  | { kind: 'spot-preemption' }
  /**
   * Unplanned: `pods` pods die at once with no SIGTERM and no drain (an OOM kill; a lost node holding them);
   * their clients reconnect to the survivors, and the ReplicaSet replaces them.
   */
  | { kind: 'crash'; pods: number }
  /**
   * Not a release: the HPA raises spec.replicas to `to`; the new pods start empty, and the row watches the
   * connections per pod for `observeMs` (real-world) after they are ready.
   */
  | { kind: 'hpa-scale-out'; to: number; observeMs: number };

export type StrategyKind = Strategy['kind'];

/** What a strategy's release gets: the cluster, its controller (if it has one) and the lab's time scale. */
export interface ReleaseContext<S extends Strategy> {
  strategy: S;
  cluster: Cluster;
  deployment: DeploymentController | undefined;
  scale: (ms: number) => number;
}

export interface StrategyRecord<S extends Strategy> {
  /** The Deployment controller the strategy runs under (the ReplicaSet replaces deleted pods), if any. */
  controller(strategy: S, cluster: Cluster, replicas: number): DeploymentController | undefined;
  /** Run the release (or disruption); resolves when its old pods are gone. */
  release(context: ReleaseContext<S>): Promise<ReleaseTimeline>;
  /** The strategy in the report's model line. */
  describe(strategy: S): string;
}

/** A Deployment with RollingUpdate maxSurge 100 %: what the disruptions other than a release run under. */
const surgeAll = (cluster: Cluster, replicas: number) =>
  new DeploymentController(cluster, { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 }, 'v1');
const none = () => undefined;
const controllerOf = (context: { deployment: DeploymentController | undefined }) =>
  context.deployment as DeploymentController;

export const STRATEGIES: { [K in StrategyKind]: StrategyRecord<Extract<Strategy, { kind: K }>> } = {
  rolling: {
    controller: (strategy, cluster) => new DeploymentController(cluster, strategy, 'v1'),
    release: (context) => controllerOf(context).rollout('v2'),
    describe: (s) => `RollingUpdate maxSurge ${s.maxSurge} maxUnavailable ${s.maxUnavailable}`,
  },
  'rolling-then-hpa-scale-down': {
    controller: (_s, cluster, replicas) => surgeAll(cluster, replicas),
    async release({ cluster, deployment }) {
      const controller = deployment as DeploymentController;
      const timeline = await controller.rollout('v2');
      // Right after the release (no stabilisation window): the HPA removes one of the pods the clients just
      // moved to, and that pod drains them a second time.
      const before = new Set(cluster.pods.filter((pod) => pod.deletedAt !== undefined));
      controller.scale(cluster.environment.replicas - 1);
      const removed = cluster.pods.filter((pod) => pod.deletedAt !== undefined && !before.has(pod));
      await cluster.until(() => removed.every((pod) => pod.exited));
      return { ...timeline, oldPods: [...timeline.oldPods, ...(await Promise.all(removed.map((pod) => pod.started)))] };
    },
    describe: () => 'RollingUpdate maxSurge 100%, then HPA scale-down by 1 right after',
  },
  'selector-flip': {
    controller: none,
    release: ({ cluster }) => selectorFlip(cluster, 'v2'),
    describe: () => 'selector flip',
  },
  'two-deployments': {
    controller: none,
    release: ({ cluster }) => twoDeployments(cluster, 'v2'),
    describe: () => 'second Deployment, then the first scaled to 0',
  },
  'argo-blue-green': {
    controller: none,
    release: ({ cluster, strategy, scale }) => argoBlueGreen(cluster, 'v2', scale(strategy.scaleDownDelayMs)),
    describe: (s) => `Argo Rollouts blue/green, scaleDownDelaySeconds ${s.scaleDownDelayMs / 1000}`,
  },
  'argo-blue-green-abort': {
    controller: none,
    release: ({ cluster, strategy, scale }) => argoBlueGreenAbort(cluster, 'v2', scale(strategy.abortScaleDownDelayMs)),
    describe: (s) =>
      `Argo Rollouts blue/green aborted before promotion, abortScaleDownDelaySeconds ${s.abortScaleDownDelayMs / 1000}`,
  },
  'node-surge-upgrade': {
    controller: (_s, cluster, replicas) => surgeAll(cluster, replicas),
    release: (context) => nodeSurgeUpgrade(context.cluster, controllerOf(context)),
    describe: () => 'surge node-pool upgrade, PDB maxUnavailable 1',
  },
  'spot-preemption': {
    controller: (_s, cluster, replicas) => surgeAll(cluster, replicas),
    async release({ cluster, scale }) {
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
    },
    describe: () => 'spot node preempted (SIGKILL 15–25 s after SIGTERM)',
  },
  crash: {
    controller: (_s, cluster, replicas) => surgeAll(cluster, replicas),
    async release({ cluster, strategy, scale }) {
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
    },
    describe: (s) => `${s.pods} pod(s) SIGKILLed at once, no drain`,
  },
  'hpa-scale-out': {
    controller: (_s, cluster, replicas) => surgeAll(cluster, replicas),
    async release({ cluster, deployment, strategy, scale }) {
      const startedAt = Date.now();
      const before = new Set(cluster.pods);
      controllerOf({ deployment }).scale(strategy.to);
      const added = cluster.pods.filter((pod) => !before.has(pod));
      await cluster.until(() => added.every((pod) => pod.readyAt !== undefined));
      const readyAt = Math.max(...added.map((pod) => pod.readyAt as number));
      // The experiment's span: what rebalancing does (or, without it, does not do) within the horizon and after.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, readyAt + scale(strategy.observeMs) - Date.now())),
      );
      return {
        startedAt,
        cutOverAt: readyAt,
        finishedAt: Date.now(),
        oldPods: [],
        newPods: await Promise.all(added.map((pod) => pod.started)),
      };
    },
    describe: (s) => `HPA scale-out to ${s.to} pods, watched ${s.observeMs / 1000} s after the new pods are ready`,
  },
};

/** The record of a strategy's kind, typed for that strategy. */
export function recordOf<S extends Strategy>(strategy: S): StrategyRecord<S> {
  return STRATEGIES[strategy.kind] as unknown as StrategyRecord<S>;
}
