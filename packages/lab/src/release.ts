// Releases in the lab, as Kubernetes performs them: a Deployment controller (RollingUpdate with maxSurge and
// maxUnavailable, or a blue/green selector flip) over real gateway processes behind the lab's load balancer.
// A deleted pod is marked terminating in the endpoints (which reach the balancer after the propagation lag)
// and gets SIGTERM at once, as the kubelet does; it leaves the endpoints when it exits. A rollback is a second
// release started while the first is under way, on the same Cluster.

import type { LoadBalancer } from './load-balancer.js';
import { Pod } from './pod.js';

export type Strategy = { kind: 'rolling'; maxSurge: number; maxUnavailable: number } | { kind: 'selector-flip' };

export interface ReleaseEnvironment {
  replicas: number;
  balancer: LoadBalancer;
  /** Gateway script for a version's pods. */
  script: (version: string) => string;
  env: Record<string, string>;
}

export interface ReleaseTimeline {
  startedAt: number;
  /** First old pod deleted (or, for a flip, the endpoint switch). */
  cutOverAt: number;
  /** Every old pod has exited. */
  finishedAt: number;
  oldPods: Pod[];
  newPods: Pod[];
}

let podCounter = 0;

/** The Service's endpoints: the pods it selects, and which of them are terminating. */
export class Cluster {
  readonly pods: Pod[] = [];
  readonly #terminating = new Set<Pod>();
  readonly #versions = new Map<number, string>();

  constructor(readonly environment: ReleaseEnvironment) {}

  async start(version: string, count: number): Promise<Pod[]> {
    const { script, env } = this.environment;
    const pods = await Promise.all(
      Array.from({ length: count }, () => Pod.start(`${version}-${++podCounter}`, script(version), version, env)),
    );
    for (const pod of pods) this.#versions.set(pod.port, version);
    return pods;
  }

  /** The version of the pod behind a backend port, for every pod this cluster ever started. */
  versionOf(port: number): string | undefined {
    return this.#versions.get(port);
  }

  isTerminating(pod: Pod): boolean {
    return this.#terminating.has(pod);
  }

  /** Pods become endpoints once they listen (readiness). */
  async add(pods: Pod[]): Promise<void> {
    this.pods.push(...pods);
    await this.publish();
  }

  /** Delete a pod: terminating in the endpoints, SIGTERM now, gone from the endpoints when it exits. */
  delete(pod: Pod): void {
    if (this.#terminating.has(pod)) return;
    this.#terminating.add(pod);
    void this.publish();
    pod.terminate();
    void pod.exited.then(() => this.#remove(pod));
  }

  /** A selector flip: the Service now selects only `pods`; the others leave the endpoints without terminating. */
  async select(pods: Pod[]): Promise<void> {
    this.pods.splice(0, this.pods.length, ...pods);
    await this.publish();
  }

  publish(): Promise<void> {
    return this.environment.balancer.update(
      this.pods.map((pod) => ({ port: pod.port, ready: true, terminating: this.#terminating.has(pod) })),
    );
  }

  #remove(pod: Pod): void {
    const index = this.pods.indexOf(pod);
    if (index < 0) return;
    this.pods.splice(index, 1);
    void this.publish();
  }
}

/** Roll `oldPods` over to `to`. Resolves when every old pod has exited. */
export async function release(
  cluster: Cluster,
  oldPods: Pod[],
  to: string,
  strategy: Strategy,
): Promise<ReleaseTimeline> {
  const { replicas } = cluster.environment;
  const startedAt = Date.now();
  const newPods: Pod[] = [];
  let cutOverAt = 0;
  const remaining = () => oldPods.filter((pod) => !cluster.isTerminating(pod));
  const deletePod = (pod: Pod) => {
    cutOverAt ||= Date.now();
    cluster.delete(pod);
  };

  if (strategy.kind === 'selector-flip') {
    const fresh = await cluster.start(to, replicas);
    newPods.push(...fresh);
    cutOverAt = Date.now();
    await cluster.select(fresh);
    for (const pod of oldPods) {
      pod.terminate();
    }
  } else {
    const { maxSurge, maxUnavailable } = strategy;
    while (remaining().length > 0 || newPods.length < replicas) {
      const counted = remaining().length + newPods.length;
      const toCreate = Math.min(replicas + maxSurge - counted, replicas - newPods.length);
      const creating = toCreate > 0 ? cluster.start(to, toCreate) : undefined;
      const available = remaining().length + newPods.length;
      const toDelete = Math.min(available - (replicas - maxUnavailable), remaining().length);
      for (const pod of remaining().slice(0, Math.max(0, toDelete))) deletePod(pod);
      if (creating) {
        const fresh = await creating;
        newPods.push(...fresh);
        await cluster.add(fresh);
      } else if (toDelete <= 0) {
        throw new Error(
          `rolling update cannot progress with maxSurge ${maxSurge} and maxUnavailable ${maxUnavailable}`,
        );
      }
    }
  }
  await Promise.all(oldPods.map((pod) => pod.exited));
  return { startedAt, cutOverAt, finishedAt: Date.now(), oldPods, newPods };
}
