// How long a GCP passthrough load balancer takes to stop sending new flows to a node whose gateway pods all
// terminate: its health check's interval × unhealthy threshold, by LB kind and externalTrafficPolicy.
//
// - Backend-service LBs (GKE's L4 RBS; `cloud.google.com/l4-rbs: "enabled"`, and every internal LB):
//   ingress-gce pkg/l4/healthchecks/healthchecksl4.go — ETP Local 3 s × 2 = 6 s, ETP Cluster (the shared
//   check) 8 s × 3 = 24 s. An existing check with larger values keeps them.
// - Target-pool LBs (the legacy external LB): the GCE cloud provider's gce.go — 8 s × 3 = 24 s.
// The endpoint update reaching the node adds to that; the chart keeps a margin (30 s against 24 s).

import type { LbKind } from './gateway-view.js';
import { annotationsOf, at, type KObject, str } from './objects.js';

export interface Detection {
  readonly interval: number;
  readonly threshold: number;
  readonly seconds: number;
}

export function detectionSeconds(kind: LbKind, trafficPolicy: 'Local' | 'Cluster'): Detection {
  const [interval, threshold] = kind === 'backend-service' && trafficPolicy === 'Local' ? [3, 2] : [8, 3];
  return { interval, threshold, seconds: interval * threshold };
}

/**
 * The LB kind of a LoadBalancer Service: backend service with GKE's RBS annotation or as an internal LB; else
 * what the caller says (`fallback`); else a target pool, the slower, marked as assumed.
 */
export function lbKindOf(service: KObject, fallback: LbKind | undefined): { kind: LbKind; assumed: boolean } {
  const annotations = annotationsOf(service);
  if (annotations['cloud.google.com/l4-rbs'] === 'enabled') return { kind: 'backend-service', assumed: false };
  const internal =
    annotations['networking.gke.io/load-balancer-type'] === 'Internal' ||
    annotations['cloud.google.com/load-balancer-type'] === 'Internal' ||
    str(at(service, 'spec', 'loadBalancerClass')) === 'networking.gke.io/l4-regional-internal';
  if (internal) return { kind: 'backend-service', assumed: false };
  if (fallback) return { kind: fallback, assumed: false };
  return { kind: 'target-pool', assumed: true };
}
