// The hold's decision as a pure function of the Deployment's pods (hold-decision.ts): no cluster, no API;
// test/kubernetes-hold.test.ts drives the same decision through the real client and the lab's pod API.

import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { holdStep } from '../src/hold-decision.js';

const subject = { podName: 'a', hashLabel: 'pod-template-hash', ownHash: 'old' };

function pod(name: string, hash: string, state: { ready?: boolean; deletedAt?: string } = {}): V1Pod {
  return {
    metadata: {
      name,
      labels: { app: 'gw', 'pod-template-hash': hash },
      ...(state.deletedAt ? { deletionTimestamp: new Date(state.deletedAt) } : {}),
    },
    status: { conditions: [{ type: 'Ready', status: state.ready === false ? 'False' : 'True' }] },
  };
}

const T1 = '2026-12-04T10:00:30.000Z';
const T2 = '2026-12-04T10:00:20.000Z';

describe('holdStep', () => {
  it('no other ReplicaSet with live pods: no rollout (a scale-down, a node drain)', () => {
    const pods = [pod('a', 'old', { deletedAt: T1 }), pod('b', 'old'), pod('x', 'new', { deletedAt: T2 })];
    expect(holdStep(pods, subject, undefined)).toEqual({
      decided: { outcome: 'no-rollout', reason: 'no other ReplicaSet of this Deployment has live pods' },
    });
  });

  it('a rollout while a peer of its ReplicaSet serves: holds, with the group fixed on the first list', () => {
    const pods = [pod('a', 'old', { deletedAt: T1 }), pod('b', 'old'), pod('x', 'new')];
    const step = holdStep(pods, subject, undefined);
    expect(step).toEqual({ group: new Set(['a', 'b']) });
  });

  it('every peer terminating or gone: released, with the earliest kill deadline of the group', () => {
    const group = new Set(['a', 'b', 'c']);
    const pods = [pod('a', 'old', { deletedAt: T1 }), pod('b', 'old', { deletedAt: T2 }), pod('x', 'new')];
    expect(holdStep(pods, subject, group)).toEqual({
      decided: {
        outcome: 'peers-terminating',
        reason: 'every pod of ReplicaSet pod-template-hash=old is terminating or gone',
        groupDeadlineAt: Date.parse(T2),
      },
    });
  });

  it('a peer that is not ready does not serve: nothing to wait for', () => {
    const pods = [pod('a', 'old', { deletedAt: T1 }), pod('b', 'old', { ready: false }), pod('x', 'new')];
    const first = holdStep(pods, subject, undefined);
    expect('decided' in first && first.decided.outcome).toBe('peers-terminating');
  });

  it('pods created later with the same hash (a rollback to this template) are not peers to wait for', () => {
    const group = new Set(['a', 'b']);
    const pods = [
      pod('a', 'old', { deletedAt: T1 }),
      pod('b', 'old', { deletedAt: T1 }),
      pod('c', 'old'), // the rollback's new pod
      pod('x', 'new', { deletedAt: T2 }),
    ];
    expect('decided' in holdStep(pods, subject, group)).toBe(true);
    // Judged as a first list (with the other ReplicaSet still live), c would have been a peer to hold for.
    const firstList = [...pods.slice(0, 3), pod('x', 'new')];
    expect(holdStep(firstList, subject, undefined)).toEqual({ group: new Set(['a', 'b', 'c']) });
  });

  it('this pod serving does not hold itself; its own deadline counts for the group', () => {
    const pods = [pod('a', 'old'), pod('x', 'new')];
    const step = holdStep(pods, subject, new Set(['a']));
    expect(step).toEqual({
      decided: {
        outcome: 'peers-terminating',
        reason: 'every pod of ReplicaSet pod-template-hash=old is terminating or gone',
      },
    });
  });
});
