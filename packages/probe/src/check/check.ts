// `baton-probe check`: the objects (from manifests or the cluster) and the facts, through every rule.

import { type CheckReport, checkReport } from './check-report.js';
import { type ClusterFacts, gatewayView } from './gateway-view.js';
import type { KObject } from './objects.js';
import { runRules } from './rules.js';

/** Check every Baton workload of `objects`, or only `workload` ("Deployment/NAME", "Rollout/NAME"). */
export function checkObjects(objects: readonly KObject[], facts: ClusterFacts = {}, workload?: string): CheckReport {
  const all = gatewayView(objects, facts);
  const view = workload ? { ...all, workloads: all.workloads.filter((w) => w.ref === workload) } : all;
  return checkReport(
    view.workloads.map((w) => w.ref),
    runRules(view),
  );
}
