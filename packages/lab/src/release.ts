// One release in the lab, as Kubernetes performs it: a Deployment controller (RollingUpdate with maxSurge and
// maxUnavailable, or a blue/green selector flip) over real gateway processes behind the lab's load balancer.
// A deleted pod is marked terminating in the endpoints (which reach the balancer after the propagation lag)
// and gets SIGTERM at once, as the kubelet does.

import type { Endpoint, LoadBalancer } from './load-balancer.js';
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

function endpointsOf(pods: Pod[], terminating: Set<Pod>): Endpoint[] {
  return pods.map((pod) => ({ port: pod.port, ready: true, terminating: terminating.has(pod) }));
}

export async function startPods(environment: ReleaseEnvironment, version: string, count: number): Promise<Pod[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      Pod.start(`${version}-${++podCounter}`, environment.script(version), version, environment.env),
    ),
  );
}

/** Roll `oldPods` (running `from`) over to `to`. Resolves when every old pod has exited. */
export async function release(
  environment: ReleaseEnvironment,
  oldPods: Pod[],
  to: string,
  strategy: Strategy,
): Promise<ReleaseTimeline> {
  const { balancer, replicas } = environment;
  const startedAt = Date.now();
  const live: Pod[] = [...oldPods];
  const terminating = new Set<Pod>();
  const newPods: Pod[] = [];
  let cutOverAt = 0;
  const publish = () => balancer.update(endpointsOf(live, terminating));
  const remove = (pod: Pod) => {
    live.splice(live.indexOf(pod), 1);
    return publish();
  };
  const remaining = () => oldPods.filter((pod) => !terminating.has(pod));
  const deletePod = (pod: Pod) => {
    cutOverAt ||= Date.now();
    terminating.add(pod);
    void publish();
    pod.terminate();
    // The endpoint goes away once the pod is gone.
    void pod.exited.then(() => remove(pod));
  };

  if (strategy.kind === 'selector-flip') {
    const fresh = await startPods(environment, to, replicas);
    newPods.push(...fresh);
    // The Service selector now matches only the new pods: old endpoints leave the set (not terminating).
    live.splice(0, live.length, ...fresh);
    cutOverAt = Date.now();
    await publish();
    for (const pod of oldPods) {
      terminating.add(pod);
      pod.terminate();
    }
  } else {
    const { maxSurge, maxUnavailable } = strategy;
    while (remaining().length > 0 || newPods.length < replicas) {
      const counted = remaining().length + newPods.length;
      const toCreate = Math.min(replicas + maxSurge - counted, replicas - newPods.length);
      const creating = toCreate > 0 ? startPods(environment, to, toCreate) : undefined;
      const available = remaining().length + newPods.length;
      const toDelete = Math.min(available - (replicas - maxUnavailable), remaining().length);
      for (const pod of remaining().slice(0, Math.max(0, toDelete))) deletePod(pod);
      if (creating) {
        const fresh = await creating;
        newPods.push(...fresh);
        live.push(...fresh);
        await publish();
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
