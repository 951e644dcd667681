// A TCP load balancer that behaves like kube-proxy behind a passthrough cloud LB, for the lab:
//  - new connections go round robin to endpoints that are ready and not terminating;
//  - endpoint changes reach the balancer only after `propagationLagMs` (EndpointSlice → every node);
//  - established flows keep their backend, whatever happens to the endpoint set (conntrack);
//  - optional fault model, `resetOnRemoval`: a flow whose endpoint is *removed* from the set (not merely
//    marked terminating) is reset, as Cilium-based dataplanes such as GKE Dataplane V2 do on a selector flip
//    (cilium#23761). Terminating endpoints stay in the map and keep their flows.
// With `workers` > 1 the proxying runs in node:cluster worker processes sharing the port. Only loopback.

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Endpoint, ProxyCore } from './proxy-core.js';

export type { Endpoint } from './proxy-core.js';

export interface LoadBalancerOptions {
  /** Delay before an endpoint change takes effect. Default 0. */
  propagationLagMs?: number;
  /** Reset established flows whose endpoint leaves the set. Default false. */
  resetOnRemoval?: boolean;
  /** Proxy worker processes; 1 proxies in this process. Default 1. */
  workers?: number;
}

const workerPath = fileURLToPath(new URL('./balancer-worker.js', import.meta.url));

export class LoadBalancer {
  readonly #lagMs: number;
  readonly #resetOnRemoval: boolean;
  readonly #workerCount: number;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #workers: Worker[] = [];
  #core: ProxyCore | undefined;
  #server: Server | undefined;
  #flowRequest = 0;
  /** Every routed connection: when (epoch ms) and to which backend port. */
  readonly accepts: { at: number; port: number }[] = [];
  port = 0;

  constructor(options: LoadBalancerOptions = {}) {
    this.#lagMs = options.propagationLagMs ?? 0;
    this.#resetOnRemoval = options.resetOnRemoval ?? false;
    this.#workerCount = Math.max(1, Math.floor(options.workers ?? 1));
  }

  async listen(): Promise<number> {
    if (this.#workerCount === 1) {
      const core = new ProxyCore(this.#resetOnRemoval, (port) => this.#recordAccept(Date.now(), port));
      this.#core = core;
      this.#server = createServer((client) => core.route(client));
      this.#server.listen(0, '127.0.0.1');
      await once(this.#server, 'listening');
      this.port = (this.#server.address() as AddressInfo).port;
      return this.port;
    }
    cluster.setupPrimary({ exec: workerPath, silent: false });
    const env = { BATON_LAB_RESET_ON_REMOVAL: this.#resetOnRemoval ? '1' : '0', BATON_LAB_PORT: '0' };
    const listening = new Promise<number>((resolve) => {
      let count = 0;
      const onListening = (worker: Worker, address: AddressInfo) => {
        if (!this.#workers.includes(worker)) return;
        if (++count === this.#workerCount) {
          cluster.off('listening', onListening);
          resolve(address.port);
        }
      };
      cluster.on('listening', onListening);
    });
    for (let i = 0; i < this.#workerCount; i++) {
      const worker = cluster.fork(env);
      worker.on('message', (message: { type: string; list?: [number, number][] }) => {
        if (message.type === 'accepts') for (const [at, port] of message.list ?? []) this.#recordAccept(at, port);
      });
      this.#workers.push(worker);
    }
    this.port = await listening;
    return this.port;
  }

  #recordAccept(at: number, port: number): void {
    this.accepts.push({ at, port });
  }

  /** Established flows per backend port, now (gathered from the workers). */
  async openFlows(): Promise<Map<number, number>> {
    if (this.#core) return this.#core.openFlows();
    const id = ++this.#flowRequest;
    const replies = await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<[number, number][]>((resolve) => {
            const onMessage = (message: {
              type: string;
              id?: number;
              flows?: [number, number][];
              accepts?: [number, number][];
            }) => {
              if (message.type !== 'flows' || message.id !== id) return;
              worker.off('message', onMessage);
              for (const [at, port] of message.accepts ?? []) this.#recordAccept(at, port);
              resolve(message.flows ?? []);
            };
            worker.on('message', onMessage);
            worker.send({ type: 'flows', id });
          }),
      ),
    );
    const counts = new Map<number, number>();
    for (const [port, count] of replies.flat()) counts.set(port, (counts.get(port) ?? 0) + count);
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
    this.#core?.apply(endpoints);
    for (const worker of this.#workers) worker.send({ type: 'endpoints', endpoints });
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    if (this.#core) {
      this.#core.closeAll();
      await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
      return;
    }
    await Promise.all(
      this.#workers.map(async (worker) => {
        if (worker.isDead()) return;
        const exited = once(worker, 'exit');
        worker.send({ type: 'close' });
        await exited;
      }),
    );
  }
}
