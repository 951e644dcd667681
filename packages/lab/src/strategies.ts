// The strategies the lab compares by default (DESIGN.md §8, issue 5).

import type { StrategyRun } from './lab.js';

export function defaultStrategies(replicas: number): StrategyRun[] {
  const quarter = Math.max(1, Math.ceil(replicas / 4));
  return [
    {
      name: 'naive close-all, RollingUpdate 25%',
      gateway: 'naive',
      clients: 'plain',
      strategy: { kind: 'rolling', maxSurge: quarter, maxUnavailable: Math.floor(replicas / 4) },
    },
    {
      name: 'Baton, maxSurge 1',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'rolling', maxSurge: 1, maxUnavailable: 0 },
    },
    {
      name: 'Baton, maxSurge 100%',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 },
    },
    {
      name: 'Baton + Baton clients, maxSurge 100%',
      gateway: 'baton',
      clients: 'baton',
      strategy: { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 },
    },
    {
      name: 'Baton + Baton clients, 100%, rollback mid-release',
      gateway: 'baton',
      clients: 'baton',
      strategy: { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 },
      rollbackAfterWindowShare: 0.4,
    },
    {
      name: 'selector flip, Dataplane V2 fault model',
      gateway: 'baton',
      clients: 'plain',
      strategy: { kind: 'selector-flip' },
      faultModel: true,
    },
  ];
}
