// `baton-probe check`: the objects (from manifests or the cluster) and the facts, through every rule.

import { type CheckReport, checkReport } from './check-report.js';
import { type ClusterFacts, gatewayView } from './gateway-view.js';
import type { KObject } from './objects.js';
import { runRules } from './rules.js';

export function checkObjects(objects: readonly KObject[], facts: ClusterFacts = {}): CheckReport {
  const view = gatewayView(objects, facts);
  return checkReport(
    view.workloads.map((workload) => workload.ref),
    runRules(view),
  );
}
