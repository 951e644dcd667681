// Releases in the lab, as Kubernetes performs them, over real gateway processes behind the lab's balancer.
//
// Cluster: the pods, their readiness, the Service's endpoints and the pod API (pod-store.ts, kube-api.ts).
// A new pod is created not ready; it becomes ready when its process listens and its readiness delay (the
// readiness model: how long a new pod waits for a node, an image, its probes) has passed, and available
// minReadySeconds later. A deleted pod gets a deletionTimestamp (now + grace), is marked terminating in the
// endpoints (which reach the balancer after the propagation lag) and gets SIGTERM at once, as the kubelet
// does; it leaves the endpoints and the API when it exits.
//
// DeploymentController: RollingUpdate as pkg/controller/deployment/rolling.go does it — the new ReplicaSet
// scaled up to replicas + maxSurge (NewRSNewReplicas), old ReplicaSets scaled down only as pods become
// available (reconcileOldReplicaSets: maxScaledDown = allPods − minAvailable − newRSUnavailable, then
// cleanupUnhealthyReplicas and scaleDownOldReplicaSetsForRollingUpdate), each ReplicaSet deleting its
// most recently ready pods first (pkg/controller/replicaset: ActivePodsWithRanks). Terminating pods count for
// no ReplicaSet (KEP-3973). A rollback is a rollout back to the older template: its ReplicaSet, with the same
// pod-template-hash, scales up again. The selector flip (blue/green) stays a separate strategy.

import type { LabBalancer, Placement } from '../datapath/lab-balancer.js';
import { PodProcess } from './pod-process.js';
import { APP_LABEL, type PodStore, templateHash } from './pod-store.js';

/** RollingUpdate's parameters, as the Deployment controller reads them. */
export interface RollingStrategy {
  kind: 'rolling';
  maxSurge: number;
  maxUnavailable: number;
  minReadyMs?: number;
}

/** How long a new pod takes from creation to ready, beyond its process start. */
export type ReadinessModel =
  | { kind: 'immediate' }
  /** Uniform over [0, spreadMs): pods scheduled over a range of nodes, images and probes. */
  | { kind: 'uniform'; spreadMs: number }
  /** `share` of the new pods wait `waitMs` for a node from the cluster autoscaler; the rest start at once. */
  | { kind: 'new-node'; share: number; waitMs: number };

export interface ReleaseEnvironment {
  replicas: number;
  balancer: LabBalancer;
  /** The pods as the API shows them (served to the gateways' rollout hold by the lab's KubeApi). */
  store: PodStore;
  /** Gateway script for a version's pods. */
  script: (version: string) => string;
  env: Record<string, string>;
  /** A pod's own variables, from its name and placement (rebalancing: its admin address, its proof file). */
  envOf?: (pod: { name: string; placement: Placement }) => Record<string, string>;
  /** terminationGracePeriodSeconds, ms (for deletionTimestamp). */
  graceMs: number;
  readiness: ReadinessModel;
  /** Uniform random source in [0, 1): seeded, so a lab run can be repeated. */
  random: () => number;
}

export interface ReleaseTimeline {
  startedAt: number;
  /** First old pod deleted (or, for a flip, the endpoint switch). */
  cutOverAt: number;
  /** Every old pod has exited. */
  finishedAt: number;
  oldPods: PodProcess[];
  newPods: PodProcess[];
}

/** A pod of the cluster from its creation: its process may still be starting. */
export interface LabPod {
  readonly name: string;
  readonly version: string;
  readonly createdAt: number;
  readonly started: Promise<PodProcess>;
  process: PodProcess | undefined;
  readyAt: number | undefined;
  availableAt: number | undefined;
  deletedAt: number | undefined;
  exited: boolean;
}

let podCounter = 0;

export class Cluster {
  readonly pods: LabPod[] = [];
  readonly #versions = new Map<number, string>();
  readonly #listeners = new Set<() => void>();
  /** Pods the Service selects; undefined: every pod (a Deployment's Service). */
  #selected: Set<LabPod> | undefined;

  constructor(readonly environment: ReleaseEnvironment) {}

  /** Create a pod of `version`: in the API at once, ready after its process listens and its readiness delay. */
  create(version: string, options: { minReadyMs?: number; readiness?: ReadinessModel } = {}): LabPod {
    const { script, env, store, graceMs } = this.environment;
    const name = `${APP_LABEL}-${templateHash(version)}-${(++podCounter).toString(36)}`;
    const createdAt = Date.now();
    const delayMs = readinessDelay(options.readiness ?? this.environment.readiness, this.environment.random);
    const placement = this.environment.balancer.placePod(name);
    const started = PodProcess.start(
      name,
      script(version),
      version,
      // The identity headers name each connection's pod and version for the probe's fleet.
      {
        ...env,
        ...this.environment.envOf?.({ name, placement }),
        POD_NAME: name,
        BATON_IDENTITY_POD: name,
        BATON_IDENTITY_VERSION: version,
      },
      placement,
    );
    const pod: LabPod = {
      name,
      version,
      createdAt,
      started,
      process: undefined,
      readyAt: undefined,
      availableAt: undefined,
      deletedAt: undefined,
      exited: false,
    };
    this.pods.push(pod);
    store.create({ name, version, graceMs, nodeName: name });
    void started.then(
      (process) => {
        pod.process = process;
        this.#versions.set(process.port, version);
        void process.exited.then(() => this.#exited(pod));
        const readyIn = Math.max(0, createdAt + delayMs - Date.now());
        setTimeout(() => this.#ready(pod, options.minReadyMs ?? 0), readyIn);
      },
      () => this.#exited(pod),
    );
    return pod;
  }

  /** Create `count` pods with the readiness model and wait until each is available. */
  async createAvailable(version: string, count: number): Promise<LabPod[]> {
    const pods = Array.from({ length: count }, () => this.create(version));
    await this.until(() => pods.every((pod) => pod.availableAt !== undefined));
    return pods;
  }

  /** Create pods and wait until each is ready (a cluster's first deployment). */
  async createReady(version: string, count: number): Promise<LabPod[]> {
    const pods = Array.from({ length: count }, () => this.create(version, { readiness: { kind: 'immediate' } }));
    await this.until(() => pods.every((pod) => pod.readyAt !== undefined));
    return pods;
  }

  /** Delete a pod: deletionTimestamp, terminating in the endpoints, SIGTERM now, gone when it exits. */
  delete(pod: LabPod): void {
    if (pod.deletedAt !== undefined) return;
    pod.deletedAt = Date.now();
    this.environment.store.markDeleted(pod.name);
    void this.publish();
    void pod.started.then(
      (process) => process.terminate(),
      () => {},
    );
    this.#changed();
  }

  /** A crash: SIGKILL now, no preStop, no SIGTERM; the pod object goes and the ReplicaSet replaces it. */
  crash(pod: LabPod): void {
    if (pod.deletedAt !== undefined) return;
    pod.deletedAt = Date.now();
    void pod.started.then(
      (process) => process.kill(),
      () => {},
    );
    this.environment.store.markDeleted(pod.name);
    void this.publish();
    this.#changed();
  }

  /** A spot preemption: deleted as usual, then SIGKILL after `killAfterMs`, whatever the grace period. */
  preempt(pod: LabPod, killAfterMs: number): void {
    this.delete(pod);
    setTimeout(() => {
      void pod.started.then(
        (process) => process.kill(),
        () => {},
      );
    }, killAfterMs);
  }

  /** A selector flip: the Service selects only `pods`; the others leave its endpoints without terminating. */
  async select(pods: LabPod[]): Promise<void> {
    this.#selected = new Set(pods);
    await this.publish();
  }

  /** The version of the pod behind a backend port, for every pod this cluster ever started. */
  versionOf(port: number): string | undefined {
    return this.#versions.get(port);
  }

  /** Pods that are available (ready for minReadySeconds) and not terminating, of one version or all: what a ReplicaSet and a PDB count. */
  available(version?: string): number {
    return this.pods.filter(
      (pod) =>
        (version === undefined || pod.version === version) &&
        !pod.exited &&
        pod.deletedAt === undefined &&
        pod.availableAt !== undefined,
    ).length;
  }

  live(version?: string): LabPod[] {
    return this.pods.filter((pod) => !pod.exited && (version === undefined || pod.version === version));
  }

  publish(): Promise<void> {
    const endpoints = this.pods
      .filter((pod) => !pod.exited && pod.process && (this.#selected?.has(pod) ?? true))
      .map((pod) => ({
        port: (pod.process as PodProcess).port,
        ready: pod.readyAt !== undefined,
        terminating: pod.deletedAt !== undefined,
        // One gateway pod per node (the chart's topology spread): a node's health is its one pod's.
        node: pod.name,
      }));
    return this.environment.balancer.update(endpoints);
  }

  /** Resolves when `condition` holds, re-checked on every pod change (ready, available, deleted, exited). */
  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        this.#listeners.delete(check);
        resolve();
      };
      this.#listeners.add(check);
    });
  }

  /** Run `listener` on every pod change; returns its removal. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async killAll(): Promise<void> {
    await Promise.all(
      this.pods.map((pod) =>
        pod.started.then(
          (process) => process.kill(),
          () => {},
        ),
      ),
    );
  }

  #ready(pod: LabPod, minReadyMs: number): void {
    if (pod.exited || pod.deletedAt !== undefined) return;
    pod.readyAt = Date.now();
    this.environment.store.markReady(pod.name);
    void this.publish();
    this.#changed();
    setTimeout(() => {
      pod.availableAt = Date.now();
      this.#changed();
    }, minReadyMs);
  }

  #exited(pod: LabPod): void {
    if (pod.exited) return;
    pod.exited = true;
    this.environment.store.remove(pod.name);
    void this.publish();
    this.#changed();
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

function readinessDelay(model: ReadinessModel, random: () => number): number {
  if (model.kind === 'uniform') return random() * model.spreadMs;
  if (model.kind === 'new-node') return random() < model.share ? model.waitMs : 0;
  return 0;
}

interface ReplicaSet {
  readonly version: string;
  /** spec.replicas */
  replicas: number;
}

/** The Deployment controller and the ReplicaSet controllers of one Deployment. */
export class DeploymentController {
  readonly #replicaSets = new Map<string, ReplicaSet>();
  #template: string;
  /** spec.replicas of the Deployment (the HPA writes it). */
  #replicas: number;
  readonly #removeListener: () => void;
  #reconciling = false;

  constructor(
    readonly cluster: Cluster,
    readonly strategy: RollingStrategy,
    current: string,
  ) {
    this.#template = current;
    this.#replicas = cluster.environment.replicas;
    this.#replicaSets.set(current, { version: current, replicas: this.#replicas });
    this.#removeListener = cluster.onChange(() => this.reconcile());
  }

  /** Change the template to `version` and roll; resolves when the rollout completed (or was superseded). */
  async rollout(version: string): Promise<ReleaseTimeline> {
    const startedAt = Date.now();
    const oldPods = this.cluster.pods.filter((pod) => pod.version !== version && !pod.exited && !pod.deletedAt);
    const before = new Set(this.cluster.pods);
    this.#template = version;
    if (!this.#replicaSets.has(version)) this.#replicaSets.set(version, { version, replicas: 0 });
    this.reconcile();
    // Done when every old pod is gone, or was kept by a later rollout back to its template; and, unless
    // superseded, the new ReplicaSet is fully available.
    await this.cluster.until(
      () =>
        oldPods.every((pod) => pod.exited || (pod.version === this.#template && pod.deletedAt === undefined)) &&
        (this.#template !== version || this.cluster.available(version) === this.#replicas),
    );
    const deleted = oldPods.filter((pod) => pod.deletedAt !== undefined);
    const processes = await Promise.all(deleted.map((pod) => pod.started));
    const created = this.cluster.pods.filter((pod) => !before.has(pod) && pod.version === version);
    return {
      startedAt,
      cutOverAt: Math.min(...deleted.map((pod) => pod.deletedAt as number)),
      finishedAt: Date.now(),
      oldPods: processes,
      newPods: (await Promise.allSettled(created.map((pod) => pod.started)))
        .filter((r): r is PromiseFulfilledResult<PodProcess> => r.status === 'fulfilled')
        .map((r) => r.value),
    };
  }

  /** The HPA changes spec.replicas; the current ReplicaSet follows (proportional scaling of one RS). */
  scale(replicas: number): void {
    this.#replicas = replicas;
    const current = this.#replicaSets.get(this.#template) as ReplicaSet;
    current.replicas = Math.min(current.replicas, replicas);
    this.reconcile();
  }

  stop(): void {
    this.#removeListener();
  }

  /** One pass of the controllers; runs again on every pod change. */
  reconcile(): void {
    if (this.#reconciling) return;
    this.#reconciling = true;
    try {
      this.#rolling();
      for (const replicaSet of this.#replicaSets.values()) this.#syncReplicaSet(replicaSet);
    } finally {
      this.#reconciling = false;
    }
  }

  #rolling(): void {
    const replicas = this.#replicas;
    const { maxSurge, maxUnavailable } = this.strategy;
    const newRS = this.#replicaSets.get(this.#template) as ReplicaSet;
    const oldRSs = [...this.#replicaSets.values()].filter((rs) => rs !== newRS);
    const total = () => [...this.#replicaSets.values()].reduce((sum, rs) => sum + rs.replicas, 0);

    // NewRSNewReplicas (deployment/util): scale up within replicas + maxSurge.
    const maxTotal = replicas + maxSurge;
    if (newRS.replicas < replicas && total() < maxTotal) {
      newRS.replicas += Math.min(maxTotal - total(), replicas - newRS.replicas);
    } else if (newRS.replicas > replicas) {
      newRS.replicas = replicas;
    }

    // reconcileOldReplicaSets.
    const oldCount = oldRSs.reduce((sum, rs) => sum + rs.replicas, 0);
    if (oldCount === 0) return;
    const minAvailable = replicas - maxUnavailable;
    const newRSUnavailable = newRS.replicas - this.cluster.available(newRS.version);
    const maxScaledDown = total() - minAvailable - newRSUnavailable;
    if (maxScaledDown <= 0) return;
    // cleanupUnhealthyReplicas: old pods that are not available go first, up to maxScaledDown.
    let cleaned = 0;
    for (const rs of oldRSs) {
      const unhealthy = rs.replicas - this.cluster.available(rs.version);
      const count = Math.min(maxScaledDown - cleaned, Math.max(0, unhealthy));
      rs.replicas -= count;
      cleaned += count;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: only what keeps minAvailable available.
    const available = this.cluster.available();
    if (available <= minAvailable) return;
    let budget = available - minAvailable;
    for (const rs of oldRSs) {
      if (budget <= 0) break;
      const count = Math.min(rs.replicas, budget);
      rs.replicas -= count;
      budget -= count;
    }
  }

  /** The ReplicaSet controller: create or delete pods until the live ones match spec.replicas. */
  #syncReplicaSet(replicaSet: ReplicaSet): void {
    const active = this.cluster.pods.filter(
      (pod) => pod.version === replicaSet.version && !pod.exited && pod.deletedAt === undefined,
    );
    if (active.length < replicaSet.replicas) {
      for (let i = active.length; i < replicaSet.replicas; i++) {
        this.cluster.create(replicaSet.version, { minReadyMs: this.strategy.minReadyMs ?? 0 });
      }
    } else if (active.length > replicaSet.replicas) {
      // ActivePodsWithRanks: not ready before ready, then the most recently ready first.
      const ranked = [...active].sort((a, b) => (b.readyAt ?? Infinity) - (a.readyAt ?? Infinity));
      for (const pod of ranked.slice(0, active.length - replicaSet.replicas)) this.cluster.delete(pod);
    }
  }
}

/** A blue/green selector flip: new pods ready, the Service switched to them, the old pods deleted. */
export async function selectorFlip(cluster: Cluster, to: string): Promise<ReleaseTimeline> {
  const startedAt = Date.now();
  const oldPods = cluster.live().filter((pod) => pod.version !== to && pod.deletedAt === undefined);
  const fresh = await cluster.createReady(to, cluster.environment.replicas);
  const cutOverAt = Date.now();
  await cluster.select(fresh);
  for (const pod of oldPods) cluster.delete(pod);
  await cluster.until(() => oldPods.every((pod) => pod.exited));
  return timeline(startedAt, cutOverAt, oldPods, fresh);
}

/** Two Deployments: v2 created and fully available, then v1 scaled to 0 at once. */
export async function twoDeployments(cluster: Cluster, to: string): Promise<ReleaseTimeline> {
  const startedAt = Date.now();
  const oldPods = cluster.live().filter((pod) => pod.version !== to && pod.deletedAt === undefined);
  const fresh = await cluster.createAvailable(to, cluster.environment.replicas);
  const cutOverAt = Date.now();
  for (const pod of oldPods) cluster.delete(pod);
  await cluster.until(() => oldPods.every((pod) => pod.exited));
  return timeline(startedAt, cutOverAt, oldPods, fresh);
}

/**
 * Argo Rollouts blue/green (rollout/bluegreen.go): preview pods fully available, the active selector switched
 * (the old pods leave the Service without terminating), then after scaleDownDelaySeconds the old ReplicaSet
 * goes to 0.
 */
export async function argoBlueGreen(cluster: Cluster, to: string, scaleDownDelayMs: number): Promise<ReleaseTimeline> {
  const startedAt = Date.now();
  const oldPods = cluster.live().filter((pod) => pod.version !== to && pod.deletedAt === undefined);
  const fresh = await cluster.createAvailable(to, cluster.environment.replicas);
  const cutOverAt = Date.now();
  await cluster.select(fresh);
  await new Promise((resolve) => setTimeout(resolve, scaleDownDelayMs));
  for (const pod of oldPods) cluster.delete(pod);
  await cluster.until(() => oldPods.every((pod) => pod.exited));
  return timeline(startedAt, cutOverAt, oldPods, fresh);
}

/**
 * A surge node-pool upgrade: each node cordoned and drained in turn, the next only once the previous node's
 * drain finished (its pod terminated, as `kubectl drain` waits for). An eviction is allowed only while the PDB
 * (maxUnavailable 1) holds: the previous pod's replacement must be available first.
 */
export async function nodeSurgeUpgrade(cluster: Cluster, deployment: DeploymentController): Promise<ReleaseTimeline> {
  const startedAt = Date.now();
  const { replicas } = cluster.environment;
  const oldPods = cluster.live().filter((pod) => pod.deletedAt === undefined);
  let previous: LabPod | undefined;
  for (const pod of oldPods) {
    const drained = previous;
    await cluster.until(() => (drained === undefined || drained.exited) && cluster.available() >= replicas);
    cluster.delete(pod);
    deployment.reconcile();
    previous = pod;
  }
  await cluster.until(() => oldPods.every((pod) => pod.exited) && cluster.available() >= replicas);
  const fresh = cluster.pods.filter((pod) => !oldPods.includes(pod) && !pod.exited);
  return timeline(startedAt, oldPods[0]?.deletedAt ?? startedAt, oldPods, fresh);
}

async function timeline(
  startedAt: number,
  cutOverAt: number,
  oldPods: LabPod[],
  newPods: LabPod[],
): Promise<ReleaseTimeline> {
  return {
    startedAt,
    cutOverAt,
    finishedAt: Date.now(),
    oldPods: await Promise.all(oldPods.map((pod) => pod.started)),
    newPods: await Promise.all(newPods.map((pod) => pod.started)),
  };
}

/**
 * Argo Rollouts blue/green aborted before promotion: preview pods fully available (reachable only through
 * the preview Service), the active Service stays on the stable pods, the preview scaled to 0 after
 * abortScaleDownDelaySeconds. The stable pods' clients must see nothing.
 */
export async function argoBlueGreenAbort(
  cluster: Cluster,
  to: string,
  abortScaleDownDelayMs: number,
): Promise<ReleaseTimeline> {
  const startedAt = Date.now();
  const stable = cluster.live().filter((pod) => pod.version !== to && pod.deletedAt === undefined);
  await cluster.select(stable);
  const preview = await cluster.createAvailable(to, cluster.environment.replicas);
  const cutOverAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, abortScaleDownDelayMs));
  for (const pod of preview) cluster.delete(pod);
  await cluster.until(() => preview.every((pod) => pod.exited));
  return timeline(startedAt, cutOverAt, preview, stable);
}
