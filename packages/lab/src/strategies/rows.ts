// The strategies the lab compares: the realistic default set (`pnpm demo`) and the full matrix (`--matrix`).
// "Realistic" means new pods do not all become ready at once: on GKE a surge waits for nodes, images and
// probes, so the Deployment controller deletes old pods in batches (docs/kubernetes.md, "Questions teams ask").

import type { ReadinessModel } from '../cluster/release.js';
import { REAL_BUDGET, type StrategyRun } from '../run/run-strategy.js';

const REAL_WINDOW_MS = REAL_BUDGET.drainWindowMs;

export const READINESS = {
  quarter: { kind: 'uniform', spreadMs: REAL_WINDOW_MS / 4 },
  whole: { kind: 'uniform', spreadMs: REAL_WINDOW_MS },
  newNode: { kind: 'new-node', share: 0.5, waitMs: 60_000 },
} as const satisfies Record<string, ReadinessModel>;

const surge100 = (replicas: number) => ({ kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 }) as const;

export function defaultStrategies(replicas: number): StrategyRun[] {
  const quarter = Math.max(1, Math.ceil(replicas / 4));
  return [
    {
      name: 'naive close-all, RollingUpdate 25%',
      gateway: 'naive',
      clients: 'plain',
      readiness: READINESS.quarter,
      strategy: { kind: 'rolling', maxSurge: quarter, maxUnavailable: Math.floor(replicas / 4) },
    },
    {
      name: 'Baton, maxSurge 100%, no hold',
      gateway: 'baton',
      clients: 'plain',
      readiness: READINESS.quarter,
      strategy: surge100(replicas),
    },
    {
      name: 'Baton + rollout hold, maxSurge 100%',
      gateway: 'baton',
      clients: 'plain',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      name: 'Baton + hold + Baton clients',
      gateway: 'baton',
      clients: 'baton',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      name: 'Baton + hold + Baton clients, rollback mid-release',
      gateway: 'baton',
      clients: 'baton',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
      rollbackAfterWindowShare: 0.4,
    },
    {
      name: 'selector flip, Dataplane V2 model',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'selector-flip' },
      dataplane: 'dpv2',
    },
  ];
}

/**
 * The full matrix (`--matrix`): RollingUpdate by surge, readiness and hold; every strategy that replaces pods
 * by another route, on kube-proxy and on the Dataplane V2 model; the disruptions that are not releases; and the
 * traffic-policy variants. Plain clients throughout, so each row counts what a client you cannot change sees.
 */
export function matrixStrategies(replicas: number): StrategyRun[] {
  const plain = { gateway: 'baton', clients: 'plain' } as const;
  const halfSurge = Math.max(1, Math.ceil(replicas / 2));
  const rows: StrategyRun[] = [];
  const readiness: [string, ReadinessModel][] = [
    ['ready over W/4', READINESS.quarter],
    ['ready over W', READINESS.whole],
    ['half wait 60 s for a node', READINESS.newNode],
  ];
  for (const [readyName, model] of readiness) {
    for (const hold of [false, true]) {
      rows.push({
        ...plain,
        name: `RollingUpdate 100%, ${readyName}, ${hold ? 'hold' : 'no hold'}`,
        readiness: model,
        rolloutHold: hold,
        // Over the whole window the hold may only wait if the window may shrink to what is left
        // (minWindowShare ≤ 1 − spread of the deletions / window).
        ...(hold && model === READINESS.whole ? { minWindowShare: 0.05 } : {}),
        ...(hold && model === READINESS.newNode ? { minWindowShare: 0.15 } : {}),
        strategy: surge100(replicas),
      });
    }
  }
  for (const [surgeName, maxSurge] of [
    ['maxSurge 1', 1],
    ['maxSurge 50%', halfSurge],
  ] as const) {
    for (const hold of [false, true]) {
      rows.push({
        ...plain,
        name: `RollingUpdate ${surgeName}, ready over W/4, ${hold ? 'hold' : 'no hold'}`,
        readiness: READINESS.quarter,
        rolloutHold: hold,
        strategy: { kind: 'rolling', maxSurge, maxUnavailable: 0 },
      });
    }
  }
  for (const dataplane of ['kube-proxy', 'dpv2'] as const) {
    const on = dataplane === 'dpv2' ? 'Dataplane V2 model' : 'kube-proxy';
    rows.push(
      { ...plain, name: `selector flip, ${on}`, dataplane, strategy: { kind: 'selector-flip' } },
      {
        ...plain,
        name: `Argo blue/green, ${on}`,
        dataplane,
        readiness: READINESS.quarter,
        strategy: { kind: 'argo-blue-green', scaleDownDelayMs: 30_000 },
      },
      {
        ...plain,
        name: `two Deployments, ${on}`,
        dataplane,
        readiness: READINESS.quarter,
        strategy: { kind: 'two-deployments' },
      },
    );
  }
  rows.push(
    {
      ...plain,
      name: 'Argo blue/green aborted before promotion',
      readiness: READINESS.quarter,
      strategy: { kind: 'argo-blue-green-abort', abortScaleDownDelayMs: 30_000 },
    },
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, Dataplane V2 model',
      dataplane: 'dpv2',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, Kubernetes < 1.26',
      kubernetesBefore126: true,
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, propagation 15 s, Kubernetes < 1.26, target pool',
      kubernetesBefore126: true,
      // The target pool's 8 s × 3: the 15 s the library defaults to is shorter than it.
      lbKind: 'target-pool',
      propagationSeconds: 15,
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, propagation 15 s, Kubernetes ≥ 1.26, target pool',
      lbKind: 'target-pool',
      propagationSeconds: 15,
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    // The GCP LB kinds (proxy-core.ts LbKind) × traffic policy, for the two releases the guide recommends.
    ...(['target-pool', 'backend-service'] as const).flatMap((lbKind) =>
      (['Local', 'Cluster'] as const).flatMap((externalTrafficPolicy): StrategyRun[] => {
        const on = `LB kind ${lbKind === 'target-pool' ? 'target pool' : 'backend service'}, ETP ${externalTrafficPolicy}`;
        return [
          {
            ...plain,
            name: `RollingUpdate 100% + hold, ${on}`,
            lbKind,
            externalTrafficPolicy,
            readiness: READINESS.quarter,
            rolloutHold: true,
            strategy: surge100(replicas),
          },
          {
            ...plain,
            name: `Argo blue/green, ${on}`,
            lbKind,
            externalTrafficPolicy,
            readiness: READINESS.quarter,
            strategy: { kind: 'argo-blue-green', scaleDownDelayMs: 60_000 },
          },
        ];
      }),
    ),
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, ETP Cluster',
      externalTrafficPolicy: 'Cluster',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
    {
      ...plain,
      name: 'RollingUpdate 100% + hold, then HPA scale-down right after',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: { kind: 'rolling-then-hpa-scale-down' },
    },
    { ...plain, name: 'surge node-pool upgrade, PDB 1', rolloutHold: true, strategy: { kind: 'node-surge-upgrade' } },
    { ...plain, name: 'spot preemption of one node', rolloutHold: true, strategy: { kind: 'spot-preemption' } },
  );
  return rows;
}

/**
 * The unplanned rows: pods that die at once with no drain (an OOM kill of one pod; a lost node taking two), with
 * and without admission control on the survivors, plain clients and Baton clients (which resume from their
 * last checkpoint). `cap` is the admission rate per pod in real-world accepts per second.
 */
export function unplannedStrategies(cap = 100, burst = 20): StrategyRun[] {
  const plain = { gateway: 'baton', clients: 'plain' } as const;
  const admission = { maxAcceptsPerSecond: cap, burst };
  return [
    { ...plain, name: 'one pod SIGKILLed', strategy: { kind: 'crash', pods: 1 } },
    { ...plain, name: `one pod SIGKILLed, admission ${cap}/s`, admission, strategy: { kind: 'crash', pods: 1 } },
    { ...plain, name: 'node lost (two pods)', strategy: { kind: 'crash', pods: 2 } },
    { ...plain, name: `node lost (two pods), admission ${cap}/s`, admission, strategy: { kind: 'crash', pods: 2 } },
    {
      gateway: 'baton',
      clients: 'baton',
      name: `one pod SIGKILLed, admission ${cap}/s, Baton clients`,
      admission,
      strategy: { kind: 'crash', pods: 1 },
    },
  ];
}

/**
 * The relay rows (`--relay`): plain clients through one @baton/relay while the gateway is released (with the
 * hold, without it, and rolled back mid-release), and the relay's own release (relay pods in front of one
 * gateway that stays). Ticks carry an id, which the relay uses to drop a move's duplicates.
 */
export function relayStrategies(replicas: number): StrategyRun[] {
  const gatewayRelease = {
    gateway: 'baton',
    clients: 'plain',
    throughRelay: true,
    readiness: READINESS.quarter,
    strategy: surge100(replicas),
  } as const;
  return [
    { name: 'gateway released behind the relay, hold', ...gatewayRelease, rolloutHold: true },
    { name: 'gateway released behind the relay, no hold', ...gatewayRelease },
    {
      name: 'gateway released behind the relay, rollback mid-release',
      ...gatewayRelease,
      rolloutHold: true,
      rollbackAfterWindowShare: 0.4,
    },
    {
      name: 'the relay itself released, hold',
      gateway: 'relay',
      clients: 'plain',
      readiness: READINESS.quarter,
      rolloutHold: true,
      strategy: surge100(replicas),
    },
  ];
}

/**
 * The scale-out rows (`--rebalance`): the HPA doubles the fleet (replicas -> 2 x replicas) and the rows watch the
 * connections per pod for 90 s after the new pods are ready. Rebalancing over 60 s (BATON_REBALANCE_SECONDS)
 * with Baton clients, with plain clients through the relay (its upstreams move), and with plain clients only
 * (the control: nothing may move); and Baton clients without it (what the example gateway did before).
 */
export function rebalanceStrategies(replicas: number): StrategyRun[] {
  const strategy = { kind: 'hpa-scale-out', to: replicas * 2, observeMs: 90_000 } as const;
  const scaleOut = `HPA scale-out ${replicas} -> ${replicas * 2}`;
  return [
    {
      name: `${scaleOut}, Baton clients, rebalancing 60 s`,
      gateway: 'baton',
      clients: 'baton',
      rebalanceSeconds: 60,
      strategy,
    },
    {
      name: `${scaleOut}, plain clients through the relay, rebalancing 60 s`,
      gateway: 'baton',
      clients: 'plain',
      throughRelay: true,
      rebalanceSeconds: 60,
      strategy,
    },
    {
      name: `${scaleOut}, plain clients, rebalancing 60 s`,
      gateway: 'baton',
      clients: 'plain',
      rebalanceSeconds: 60,
      strategy,
    },
    { name: `${scaleOut}, Baton clients, no rebalancing`, gateway: 'baton', clients: 'baton', strategy },
  ];
}
