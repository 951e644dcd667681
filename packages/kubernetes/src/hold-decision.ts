// The hold's decision, apart from the API plumbing: from the pods of this pod's Deployment as the informer
// lists them, is there a rollout, and has every peer of this pod's ReplicaSet stopped serving? A pure function
// of the pods (and of the group it judged on the first full list), so it is tested without a cluster
// (test/hold-decision.test.ts); kubernetes-rollout-hold.ts feeds it every change the watch brings.

import type { RolloutHoldResult } from '@baton/drain-core';
import type { V1Pod } from '@kubernetes/client-node';
import { isServing, killDeadlineOf } from './pod-view.js';

/** Who is asking: this pod, the label that names its ReplicaSet, and its ReplicaSet's hash. */
export interface HoldSubject {
  podName: string;
  hashLabel: string;
  ownHash: string;
}

/**
 * The peers to wait for, fixed on the first full list: the pods of this ReplicaSet that exist then. Pods created
 * later with the same hash (a rollback to this very template) are the rollout's new pods, not peers.
 */
export type HoldGroup = ReadonlySet<string>;

export type HoldStep =
  /** Decided: no-rollout, or peers-terminating with the group's earliest kill deadline. */
  | { decided: RolloutHoldResult }
  /** Still holding: some peer of the group serves. */
  | { group: HoldGroup };

const nameOf = (pod: V1Pod) => pod.metadata?.name ?? '';

/** One look at the Deployment's pods; `group` is undefined on the first full list. */
export function holdStep(pods: readonly V1Pod[], subject: HoldSubject, group: HoldGroup | undefined): HoldStep {
  const hashOf = (pod: V1Pod) => pod.metadata?.labels?.[subject.hashLabel];
  let members = group;
  if (members === undefined) {
    // A rollout has live pods of another ReplicaSet (an HPA scale-down or a node drain has none).
    const otherReplicaSet = pods.some((pod) => hashOf(pod) !== subject.ownHash && !pod.metadata?.deletionTimestamp);
    if (!otherReplicaSet) {
      return { decided: { outcome: 'no-rollout', reason: 'no other ReplicaSet of this Deployment has live pods' } };
    }
    members = new Set(pods.filter((pod) => hashOf(pod) === subject.ownHash).map(nameOf));
  }
  const inGroup = pods.filter((pod) => members.has(nameOf(pod)));
  if (inGroup.some((pod) => nameOf(pod) !== subject.podName && isServing(pod))) return { group: members };
  const deadlines = inGroup.map(killDeadlineOf).filter((at): at is number => at !== undefined);
  return {
    decided: {
      outcome: 'peers-terminating',
      reason: `every pod of ReplicaSet ${subject.hashLabel}=${subject.ownHash} is terminating or gone`,
      ...(deadlines.length > 0 ? { groupDeadlineAt: Math.min(...deadlines) } : {}),
    },
  };
}
