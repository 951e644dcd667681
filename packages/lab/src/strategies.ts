// The strategies the lab compares: the realistic default set (`pnpm demo`) and the full matrix (`--matrix`).
// "Realistic" means new pods do not all become ready at once: on GKE a surge waits for nodes, images and
// probes, so the Deployment controller deletes old pods in batches (DESIGN.md §2).

import { REAL_BUDGET, type StrategyRun } from './lab.js';
import type { ReadinessModel } from './release.js';

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
 * Every combination worth a row: RollingUpdate maxSurge 1 / 25 % / 100 % × hold off / on × new pods ready
 * over a quarter of the window, over the whole window, or half of them waiting a minute for a node; and the
 * selector flip on kube-proxy and on the Dataplane V2 model.
 */
export function matrixStrategies(replicas: number): StrategyRun[] {
  const surges: [string, number][] = [
    ['maxSurge 1', 1],
    ['maxSurge 25%', Math.max(1, Math.ceil(replicas / 4))],
    ['maxSurge 100%', replicas],
  ];
  const readiness: [string, ReadinessModel][] = [
    ['ready over W/4', READINESS.quarter],
    ['ready over W', READINESS.whole],
    ['half wait 60 s for a node', READINESS.newNode],
  ];
  const rows: StrategyRun[] = [];
  for (const [surgeName, maxSurge] of surges) {
    for (const [readyName, model] of readiness) {
      for (const hold of [false, true]) {
        rows.push({
          name: `Baton, ${surgeName}, ${readyName}, ${hold ? 'hold' : 'no hold'}`,
          gateway: 'baton',
          clients: 'plain',
          readiness: model,
          rolloutHold: hold,
          strategy: { kind: 'rolling', maxSurge, maxUnavailable: 0 },
        });
      }
    }
  }
  rows.push(
    {
      name: 'selector flip, kube-proxy',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'selector-flip' },
    },
    {
      name: 'selector flip, Dataplane V2 model',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'selector-flip' },
      dataplane: 'dpv2',
    },
  );
  return rows;
}
