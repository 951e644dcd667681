// The one line that says what a row ran under: strategy, readiness, dataplane, traffic policy, propagation,
// hold and admission, replicas and relays.

import type { ReadinessModel } from '../cluster/release.js';
import { lbHealthCheck } from '../datapath/node/proxy-core.js';
import { recordOf } from '../strategies/kinds.js';
import { REAL } from './real-world.js';
import type { LabOptions, StrategyRun } from './types.js';

/** The readiness model in the lab's compressed time. */
export function scaleReadiness(model: ReadinessModel, scale: (ms: number) => number): ReadinessModel {
  if (model.kind === 'uniform') return { kind: 'uniform', spreadMs: scale(model.spreadMs) };
  if (model.kind === 'new-node') return { ...model, waitMs: scale(model.waitMs) };
  return model;
}

export function describeModel(
  run: StrategyRun,
  options: LabOptions,
  readiness: ReadinessModel,
  scale: (ms: number) => number,
): string {
  const real = (ms: number) => `${(ms / scale(1_000)).toFixed(0)} s`;
  const strategy = recordOf(run.strategy).describe(run.strategy);
  const ready =
    readiness.kind === 'uniform'
      ? `ready over ${real(readiness.spreadMs)}`
      : readiness.kind === 'new-node'
        ? `${Math.round(readiness.share * 100)} % wait ${real(readiness.waitMs)} for a node`
        : 'ready at once';
  const dataplane = (run.dataplane ?? options.dataplane) === 'dpv2' ? 'Dataplane V2 model' : 'kube-proxy';
  const etp = run.externalTrafficPolicy ?? options.externalTrafficPolicy ?? 'Local';
  const before126 = run.kubernetesBefore126 ?? options.kubernetesBefore126;
  const lbKind = run.lbKind ?? options.lbKind ?? 'backend-service';
  const check = lbHealthCheck(lbKind, etp);
  const kind = lbKind === 'target-pool' ? "target pool (an unhealthy node's flows moved: reset)" : 'backend service';
  const traffic =
    etp === 'Local'
      ? `${kind}, ETP Local, LB health check ${check.intervalMs / 1000} s × ${check.unhealthyThreshold}, Kubernetes ${before126 ? '< 1.26' : '≥ 1.26'}`
      : `${kind}, ETP Cluster`;
  const hold =
    (run.rolloutHold ? `hold (min window ${run.minWindowShare ?? 0.5})` : 'no hold') +
    (run.admission ? `, admission ${run.admission.maxAcceptsPerSecond}/s burst ${run.admission.burst}` : '');
  const propagation = `propagation ${run.propagationSeconds ?? REAL.propagationMs / 1000} s`;
  const relay = run.throughRelay
    ? '; plain clients through one @baton/relay (--id-field id)'
    : run.gateway === 'relay'
      ? '; the pods released are @baton/relay in front of one gateway that stays'
      : '';
  return `${strategy}; ${ready}; ${dataplane}; ${traffic}; ${propagation}; ${hold}; ${options.replicas} replicas, one per node${relay}`;
}
