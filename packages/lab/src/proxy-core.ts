// The routing of the lab balancer, shared by its in-process form and its worker processes: round robin over
// ready, non-terminating endpoints, established flows kept, and the reset-on-removal fault model.

import { connect, type Socket } from 'node:net';

export interface Endpoint {
  /** Backend port on 127.0.0.1. */
  port: number;
  ready: boolean;
  terminating: boolean;
}

interface Flow {
  client: Socket;
  upstream: Socket;
  port: number;
}

export class ProxyCore {
  readonly #flows = new Set<Flow>();
  #endpoints: Endpoint[] = [];
  #next = 0;

  constructor(
    private readonly resetOnRemoval: boolean,
    private readonly onAccept: (port: number) => void,
  ) {}

  apply(endpoints: Endpoint[]): void {
    const kept = new Set(endpoints.map((endpoint) => endpoint.port));
    this.#endpoints = endpoints;
    if (!this.resetOnRemoval) return;
    for (const flow of this.#flows) {
      if (!kept.has(flow.port)) {
        // The backend left the dataplane's map: the next packet of the flow is re-hashed and reset.
        flow.client.resetAndDestroy();
        flow.upstream.destroy();
      }
    }
  }

  route(client: Socket): void {
    const candidates = this.#endpoints.filter((endpoint) => endpoint.ready && !endpoint.terminating);
    const target = candidates[this.#next++ % Math.max(1, candidates.length)];
    if (!target) {
      // No ready endpoint: a real LB has nowhere to send the SYN either.
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

  openFlows(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const flow of this.#flows) counts.set(flow.port, (counts.get(flow.port) ?? 0) + 1);
    return counts;
  }

  closeAll(): void {
    for (const flow of this.#flows) {
      flow.client.destroy();
      flow.upstream.destroy();
    }
  }
}
