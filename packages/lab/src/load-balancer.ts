// A TCP load balancer that behaves like kube-proxy behind a passthrough cloud LB, for the lab:
//  - new connections go round robin to endpoints that are ready and not terminating;
//  - endpoint changes reach the balancer only after `propagationLagMs` (EndpointSlice → every node);
//  - established flows keep their backend, whatever happens to the endpoint set (conntrack);
//  - optional fault model, `resetOnRemoval`: a flow whose endpoint is *removed* from the set (not merely
//    marked terminating) is reset, as Cilium-based dataplanes such as GKE Dataplane V2 do on a selector flip
//    (cilium#23761). Terminating endpoints stay in the map and keep their flows.
// Only loopback.

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Endpoint {
  /** Backend port on 127.0.0.1. */
  port: number;
  ready: boolean;
  terminating: boolean;
}

export interface LoadBalancerOptions {
  /** Delay before an endpoint change takes effect. Default 0. */
  propagationLagMs?: number;
  /** Reset established flows whose endpoint leaves the set. Default false. */
  resetOnRemoval?: boolean;
}

interface Flow {
  client: Socket;
  upstream: Socket;
  port: number;
}

export class LoadBalancer {
  readonly #server: Server;
  readonly #flows = new Set<Flow>();
  readonly #lagMs: number;
  readonly #resetOnRemoval: boolean;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #endpoints: Endpoint[] = [];
  #next = 0;
  #connectionsByPort = new Map<number, number>();
  /** Every routed connection: when (epoch ms) and to which backend port. */
  readonly accepts: { at: number; port: number }[] = [];
  port = 0;

  constructor(options: LoadBalancerOptions = {}) {
    this.#lagMs = options.propagationLagMs ?? 0;
    this.#resetOnRemoval = options.resetOnRemoval ?? false;
    this.#server = createServer((client) => this.#route(client));
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
    return this.port;
  }

  /** The endpoint set the balancer routes by now (after propagation). */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** New connections routed to each backend port so far. */
  connectionsTo(port: number): number {
    return this.#connectionsByPort.get(port) ?? 0;
  }

  /** Established flows per backend port, now. */
  openFlows(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const flow of this.#flows) counts.set(flow.port, (counts.get(flow.port) ?? 0) + 1);
    return counts;
  }

  /** Publish a new endpoint set; it takes effect after the propagation lag. Resolves when it has. */
  update(endpoints: Endpoint[]): Promise<void> {
    const snapshot = endpoints.map((endpoint) => ({ ...endpoint }));
    if (this.#lagMs <= 0) {
      this.#apply(snapshot);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#apply(snapshot);
        resolve();
      }, this.#lagMs);
      this.#timers.add(timer);
    });
  }

  #apply(endpoints: Endpoint[]): void {
    const kept = new Set(endpoints.map((endpoint) => endpoint.port));
    this.#endpoints = endpoints;
    if (!this.#resetOnRemoval) return;
    for (const flow of this.#flows) {
      if (!kept.has(flow.port)) {
        // The backend left the dataplane's map: the next packet of the flow is re-hashed and reset.
        flow.client.resetAndDestroy();
        flow.upstream.destroy();
      }
    }
  }

  #route(client: Socket): void {
    const candidates = this.#endpoints.filter((endpoint) => endpoint.ready && !endpoint.terminating);
    const target = candidates[this.#next++ % Math.max(1, candidates.length)];
    if (!target) {
      // No ready endpoint: a real LB has nowhere to send the SYN either.
      client.resetAndDestroy();
      return;
    }
    this.#connectionsByPort.set(target.port, this.connectionsTo(target.port) + 1);
    this.accepts.push({ at: Date.now(), port: target.port });
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

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    for (const flow of this.#flows) {
      flow.client.destroy();
      flow.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
