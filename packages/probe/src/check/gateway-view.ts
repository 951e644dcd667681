// What the rules look at: each workload that runs Baton (a Deployment or an Argo Rollout whose pod has a
// container with BATON_* settings or a baton-drain preStop), and the objects around it — the Services that
// select its pods, its HPA, its PDBs, its ServiceAccount and RBAC, the Ingresses, routes and backend policies in
// front of those Services, the nodes — plus the facts the objects do not carry (dataplane, version, LB kind).

import {
  at,
  type KObject,
  kindOf,
  labelsOf,
  list,
  nameOf,
  namespaceOf,
  record,
  refOf,
  selects,
  str,
} from './objects.js';

export type Dataplane = 'kube-proxy' | 'v2';
export type LbKind = 'target-pool' | 'backend-service';

/** What the cluster is, when the objects cannot say: flags, or what the live check read. */
export interface ClusterFacts {
  /** "1.31" or "v1.31.4-gke.1000": the control plane's (or the oldest node's) version. */
  kubernetesVersion?: string;
  dataplane?: Dataplane;
  /** The LB kind of a LoadBalancer Service without GKE's annotation (it depends on the cluster's version). */
  lbKind?: LbKind;
  /** How long the team wants a WebSocket to live behind an L7 load balancer, in seconds (default 3600). */
  connectionLifetimeSeconds?: number;
}

export interface BatonWorkload {
  readonly object: KObject;
  readonly ref: string;
  readonly namespace: string | undefined;
  readonly pod: Record<string, unknown>;
  readonly podLabels: Record<string, string>;
  readonly container: Record<string, unknown>;
  /** The container's env with a literal value; `valueFrom` ones are present with value undefined. */
  readonly env: ReadonlyMap<string, string | undefined>;
  readonly services: KObject[];
  readonly hpas: KObject[];
  readonly pdbs: KObject[];
}

export interface GatewayView {
  readonly workloads: BatonWorkload[];
  readonly objects: readonly KObject[];
  readonly facts: ClusterFacts;
  byKind(kind: string): KObject[];
}

const WORKLOAD_KINDS = new Set(['Deployment', 'Rollout']);

export function gatewayView(objects: readonly KObject[], facts: ClusterFacts): GatewayView {
  const byKind = (kind: string) => objects.filter((object) => kindOf(object) === kind);
  const workloads: BatonWorkload[] = [];
  for (const object of objects) {
    if (!WORKLOAD_KINDS.has(kindOf(object))) continue;
    const pod = record(at(object, 'spec', 'template', 'spec'));
    const container = list(pod.containers).map(record).find(isBaton);
    if (!container) continue;
    const namespace = namespaceOf(object);
    const podLabels = labelsOf(object, 'spec', 'template');
    const sameNamespace = (other: KObject) =>
      namespace === undefined || namespaceOf(other) === undefined || namespaceOf(other) === namespace;
    workloads.push({
      object,
      ref: refOf(object),
      namespace,
      pod,
      podLabels,
      container,
      env: new Map(list(container.env).map((entry) => [str(at(entry, 'name')) ?? '', str(at(entry, 'value'))])),
      services: byKind('Service').filter(
        (service) => sameNamespace(service) && selects(record(at(service, 'spec', 'selector')), podLabels),
      ),
      hpas: byKind('HorizontalPodAutoscaler').filter(
        (hpa) =>
          sameNamespace(hpa) &&
          str(at(hpa, 'spec', 'scaleTargetRef', 'kind')) === kindOf(object) &&
          str(at(hpa, 'spec', 'scaleTargetRef', 'name')) === nameOf(object),
      ),
      pdbs: byKind('PodDisruptionBudget').filter(
        (pdb) => sameNamespace(pdb) && selects(record(at(pdb, 'spec', 'selector', 'matchLabels')), podLabels),
      ),
    });
  }
  return { workloads, objects, facts, byKind };
}

/** A container runs Baton when it has the drain contract's settings or the preStop that starts its drain. */
function isBaton(container: Record<string, unknown>): boolean {
  const env = list(container.env).some((entry) => (str(at(entry, 'name')) ?? '').startsWith('BATON_'));
  return env || preStopCommand(container).includes('baton-drain');
}

/** The preStop exec command as one string ('' when there is none). */
export function preStopCommand(container: Record<string, unknown>): string {
  return list(at(container, 'lifecycle', 'preStop', 'exec', 'command'))
    .map(String)
    .join(' ');
}
