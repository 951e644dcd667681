// The routing of the lab balancer, shared by its in-process form and its worker processes. Two layers, as on
// GKE behind a passthrough Network LB (docs: "Backend service-based external passthrough Network Load
// Balancer", health checks; Kubernetes: "Service: externalTrafficPolicy"):
//
//  - the cloud LB picks a node. With externalTrafficPolicy Cluster every node passes its health check. With
//    Local, only the nodes its probes found healthy (../cloud-lb-health.ts);
//  - the node's kube-proxy picks an endpoint, round robin. Cluster: any ready, non-terminating endpoint (a
//    second hop when it is on another node). Local: a local one; when only terminating local endpoints are
//    left, Kubernetes ≥ 1.26 sends to those that still serve (KEP-1669, ProxyTerminatingEndpoints), older
//    versions drop the SYN — the lab holds the connection unanswered until the client's SYN retries give up.
//
// Established flows keep their backend (conntrack). Dataplane `dpv2`: a flow whose endpoint is *removed* from
// the Service (not merely terminating) is reset, as Cilium-based dataplanes such as GKE Dataplane V2 do
// (cilium#23761); terminating endpoints keep their flows on both dataplanes.

import { connect, type Socket } from 'node:net';
import { CloudLbHealth, type HealthCheck } from '../cloud-lb-health.js';

export interface Endpoint {
  /** Backend port on 127.0.0.1. */
  port: number;
  ready: boolean;
  terminating: boolean;
  /** The node the pod runs on. Default: a node of its own. */
  node?: string;
}

/**
 * The GCP passthrough LB's kind, which decides what becomes of a node's established flows once its health check
 * fails (ETP Local): a backend service keeps them on the unhealthy node (TCP, connectionPersistenceOnUnhealthyBackends
 * DEFAULT_FOR_PROTOCOL: cloud.google.com/load-balancing/docs/network/ext-netlb-traffic-distribution); for a target
 * pool GCP documents nothing, and the lab takes the pessimistic case: the flows are moved to a healthy node,
 * which has no state for them and resets them. The health check's timing per kind: lbHealthCheck().
 */
export type LbKind = 'target-pool' | 'backend-service';

export interface RoutingOptions {
  dataplane: 'kube-proxy' | 'dpv2';
  externalTrafficPolicy: 'Cluster' | 'Local';
  lbKind: LbKind;
  /** Kubernetes ≥ 1.26: Local falls back to serving terminating endpoints. */
  proxyTerminatingEndpoints: boolean;
  healthCheck: HealthCheck;
  /** How long a dropped SYN leaves the client waiting before its connect fails. */
  synTimeoutMs: number;
}

/**
 * GKE's health check of the nodes, by LB kind and traffic policy (real time): a backend service with ETP Local
 * every 3 s, unhealthy after 2 (ingress-gce pkg/l4/healthchecks/healthchecksl4.go, gceLocalHc*); a backend
 * service with ETP Cluster (the shared check) and a target pool every 8 s, unhealthy after 3 (healthchecksl4.go
 * gceSharedHc*; the GCE cloud provider's gce.go, gceHc*). Healthy after one success in every case.
 */
export function lbHealthCheck(kind: LbKind, trafficPolicy: 'Cluster' | 'Local'): HealthCheck {
  return kind === 'backend-service' && trafficPolicy === 'Local'
    ? { intervalMs: 3_000, unhealthyThreshold: 2, healthyThreshold: 1 }
    : { intervalMs: 8_000, unhealthyThreshold: 3, healthyThreshold: 1 };
}

export const DEFAULT_ROUTING: RoutingOptions = {
  dataplane: 'kube-proxy',
  externalTrafficPolicy: 'Cluster',
  lbKind: 'backend-service',
  proxyTerminatingEndpoints: true,
  healthCheck: { intervalMs: 8_000, unhealthyThreshold: 3, healthyThreshold: 1 },
  synTimeoutMs: 20_000,
};

interface Flow {
  client: Socket;
  upstream: Socket;
  port: number;
}

export class ProxyCore {
  readonly #flows = new Set<Flow>();
  readonly #held = new Set<Socket>();
  readonly #health: CloudLbHealth | undefined;
  /** The node of every pod port ever published (the target pool's move resets flows by node). */
  readonly #nodeOfPort = new Map<number, string>();
  #endpoints: Endpoint[] = [];
  #next = 0;
  #nextNode = 0;
  /** Connections dropped at the node (no endpoint to send the SYN to). */
  dropped = 0;

  constructor(
    private readonly routing: RoutingOptions,
    private readonly onAccept: (port: number) => void,
    /** Called when the cloud LB's view of a node changes. */
    onHealth: (node: string, healthy: boolean) => void = () => {},
  ) {
    if (routing.externalTrafficPolicy === 'Local') {
      this.#health = new CloudLbHealth(routing.healthCheck, (node, healthy) => {
        if (!healthy && routing.lbKind === 'target-pool') this.#moveFlowsOff(node);
        onHealth(node, healthy);
      });
    }
  }

  /** A target pool moves an unhealthy node's flows to another node, which resets them (see LbKind). */
  #moveFlowsOff(node: string): void {
    // Every pod the node ever ran, endpoint or not now: a selector flip removes endpoints whose flows remain.
    const onNode = new Set([...this.#nodeOfPort].filter(([, podNode]) => podNode === node).map(([port]) => port));
    for (const flow of this.#flows) {
      if (!onNode.has(flow.port)) continue;
      flow.client.resetAndDestroy();
      flow.upstream.destroy();
    }
  }

  apply(endpoints: Endpoint[]): void {
    const kept = new Set(endpoints.map((endpoint) => endpoint.port));
    this.#endpoints = endpoints;
    for (const endpoint of endpoints) this.#nodeOfPort.set(endpoint.port, nodeOf(endpoint));
    this.#health?.update(endpoints.map((endpoint) => ({ ...endpoint, node: nodeOf(endpoint) })));
    if (this.routing.dataplane !== 'dpv2') return;
    for (const flow of this.#flows) {
      if (!kept.has(flow.port)) {
        // The backend left the dataplane's map: the next packet of the flow is re-hashed and reset.
        flow.client.resetAndDestroy();
        flow.upstream.destroy();
      }
    }
  }

  route(client: Socket): void {
    const target = this.#pick();
    if (target === 'drop') {
      // The node has nowhere to send the SYN: the client hears nothing until its retries run out.
      this.dropped++;
      this.#held.add(client);
      client.on('error', () => {});
      const timer = setTimeout(() => client.destroy(), this.routing.synTimeoutMs);
      client.on('close', () => {
        clearTimeout(timer);
        this.#held.delete(client);
      });
      return;
    }
    if (!target) {
      // No ready endpoint anywhere: a real LB has nowhere to send the SYN either.
      client.resetAndDestroy();
      return;
    }
    this.onAccept(target.port);
    const upstream = connect(target.port, '127.0.0.1');
    const flow: Flow = { client, upstream, port: target.port };
    this.#flows.add(flow);
    client.pipe(upstream).pipe(client);
    const end = () => {
      this.#flows.delete(flow);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  }

  #pick(): Endpoint | 'drop' | undefined {
    const serving = (endpoint: Endpoint) => endpoint.ready && !endpoint.terminating;
    if (this.routing.externalTrafficPolicy === 'Cluster') {
      const candidates = this.#endpoints.filter(serving);
      return candidates[this.#next++ % Math.max(1, candidates.length)];
    }
    const pool = this.#health?.pool() ?? [];
    if (pool.length === 0) return undefined;
    const node = pool[this.#nextNode++ % pool.length] as string;
    const local = this.#endpoints.filter((endpoint) => nodeOf(endpoint) === node);
    let candidates = local.filter(serving);
    if (candidates.length === 0 && this.routing.proxyTerminatingEndpoints) {
      candidates = local.filter((endpoint) => endpoint.ready && endpoint.terminating);
    }
    if (candidates.length === 0) return 'drop';
    return candidates[this.#next++ % candidates.length];
  }

  openFlows(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const flow of this.#flows) counts.set(flow.port, (counts.get(flow.port) ?? 0) + 1);
    return counts;
  }

  closeAll(): void {
    this.#health?.stop();
    for (const flow of this.#flows) {
      flow.client.destroy();
      flow.upstream.destroy();
    }
    for (const client of this.#held) client.destroy();
  }
}

/** The node an endpoint's pod runs on (a node of its own when not said). */
export function nodeOf(endpoint: Endpoint): string {
  return endpoint.node ?? `node-of-${endpoint.port}`;
}
