// What the hold reads from Pod objects: which ReplicaSet a pod belongs to, whether it serves, and when the
// kubelet kills it. Pure functions over the API's JSON, so they are tested without a cluster.

import type { V1Pod } from '@kubernetes/client-node';

/**
 * Labels that name a pod's ReplicaSet: the Deployment controller's (pkg/controller/deployment/util:
 * DefaultDeploymentUniqueLabelKey) and Argo Rollouts' (rollouts-pod-template-hash).
 */
export const HASH_LABELS = ['pod-template-hash', 'rollouts-pod-template-hash'] as const;

/** The hash label this pod carries, if any. */
export function hashLabelOf(pod: V1Pod, preferred?: string): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  if (preferred !== undefined) return labels[preferred] === undefined ? undefined : preferred;
  return HASH_LABELS.find((label) => labels[label] !== undefined);
}

/**
 * The pods of the same Deployment: the pod's own labels without the hash label, as a label selector. Every
 * ReplicaSet of a Deployment stamps its pods with the Deployment's template labels plus its own hash.
 */
export function deploymentSelector(pod: V1Pod, hashLabel: string): string {
  const labels = { ...(pod.metadata?.labels ?? {}) };
  delete labels[hashLabel];
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/**
 * Serving as an EndpointSlice sees it: Ready and not terminating. A terminating pod gets no new connections
 * whatever its readiness (EndpointSlice `ready = serving && !terminating`, KEP-1672).
 */
export function isServing(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return (
    pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') === true
  );
}

/**
 * Epoch ms at which the kubelet kills a terminating pod at the latest. The API server sets deletionTimestamp
 * to the time of the delete plus the grace period (pkg/registry/core/pod/strategy.go, CheckGracefulDelete).
 */
export function killDeadlineOf(pod: V1Pod): number | undefined {
  const at = pod.metadata?.deletionTimestamp;
  if (at === undefined || at === null) return undefined;
  const ms = at instanceof Date ? at.getTime() : Date.parse(String(at));
  return Number.isFinite(ms) ? ms : undefined;
}
