// A TCP load balancer that behaves like a passthrough cloud LB in front of kube-proxy, for the lab: the
// routing (proxy-core.ts) picks a node, then an endpoint, by externalTrafficPolicy, the LB's health checks and
// the dataplane; endpoint changes reach it only after `propagationLagMs` (EndpointSlice → every node).
// With `workers` > 1 the proxying runs in node:cluster worker processes sharing the port. Only loopback.

import cluster, { type Worker } from 'node:cluster';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { LabBalancer, Placement } from '../lab-balancer.js';
import { PropagationLag } from '../propagation-lag.js';
import { DEFAULT_ROUTING, type Endpoint, ProxyCore, type RoutingOptions } from './proxy-core.js';

export { DEFAULT_ROUTING, type Endpoint, type RoutingOptions } from './proxy-core.js';

export interface NodeBalancerOptions {
  /** Delay before an endpoint change takes effect. Default 0. */
  propagationLagMs?: number;
  /** Dataplane, externalTrafficPolicy, health checks: see proxy-core.ts. Default DEFAULT_ROUTING. */
  routing?: Partial<RoutingOptions>;
  /** Proxy worker processes; 1 proxies in this process. Default 1. */
  workers?: number;
}

const workerPath = fileURLToPath(new URL('./balancer-worker.js', import.meta.url));

/** Emits 'health' (node, healthy) when the cloud LB's view of a node changes (externalTrafficPolicy Local). */
export class NodeBalancer extends EventEmitter<{ health: [string, boolean] }> implements LabBalancer {
  readonly dataPath = 'node';
  readonly #lag: PropagationLag;
  readonly #routing: RoutingOptions;
  readonly #workerCount: number;
  readonly #workers: Worker[] = [];
  #core: ProxyCore | undefined;
  #server: Server | undefined;
  #flowRequest = 0;
  #placed = 0;
  /** Every routed connection: when (epoch ms) and to which backend port. */
  readonly accepts: { at: number; port: number }[] = [];
  /** Connections dropped at a node with nowhere to send them (as of the last openFlows()). */
  dropped = 0;
  /** Every accept is logged by the balancer itself. */
  readonly eventsLost = 0;
  port = 0;

  constructor(options: NodeBalancerOptions = {}) {
    super();
    this.#lag = new PropagationLag(options.propagationLagMs ?? 0, (endpoints) => this.#apply(endpoints));
    this.#routing = { ...DEFAULT_ROUTING, ...options.routing };
    this.#workerCount = Math.max(1, Math.floor(options.workers ?? 1));
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Every pod on loopback, on a port of its own. */
  placePod(): Placement {
    return { host: '127.0.0.1', port: 0, adminHost: this.adminHostOf(++this.#placed) };
  }

  /** Each pod's admin server on a loopback address of its own (127.0.0.0/8 is all loopback), as pods have IPs. */
  adminHostOf(ordinal: number): string {
    return `127.0.33.${ordinal}`;
  }

  clientPlacement(): Placement {
    return { host: '127.0.0.1', port: 0 };
  }

  /** Pods share the lab's loopback. */
  async listenerForPods(): Promise<undefined> {
    return undefined;
  }

  async listen(): Promise<number> {
    if (this.#workerCount === 1) {
      const core = new ProxyCore(
        this.#routing,
        (port) => this.#recordAccept(Date.now(), port),
        (node, healthy) => this.emit('health', node, healthy),
      );
      this.#core = core;
      this.#server = createServer((client) => core.route(client));
      this.#server.listen(0, '127.0.0.1');
      await once(this.#server, 'listening');
      this.port = (this.#server.address() as AddressInfo).port;
      return this.port;
    }
    cluster.setupPrimary({ exec: workerPath, silent: false });
    const env = { BATON_LAB_ROUTING: JSON.stringify(this.#routing), BATON_LAB_PORT: '0' };
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
      worker.on('message', (message: { type: string; list?: [number, number][]; node?: string; healthy?: boolean }) => {
        if (message.type === 'accepts') for (const [at, port] of message.list ?? []) this.#recordAccept(at, port);
        // Every worker probes on its own (as the LB's many frontends do); the first worker speaks for them.
        if (message.type === 'health' && worker === this.#workers[0]) {
          this.emit('health', message.node as string, message.healthy === true);
        }
      });
      this.#workers.push(worker);
    }
    this.port = await listening;
    return this.port;
  }

  #recordAccept(at: number, port: number): void {
    this.accepts.push({ at, port });
  }

  /** Collects the workers' last accepts and drops. */
  async settle(): Promise<void> {
    await this.openFlows();
  }

  /** Established flows per backend port, now (gathered from the workers). */
  async openFlows(): Promise<Map<number, number>> {
    if (this.#core) {
      this.dropped = this.#core.dropped;
      return this.#core.openFlows();
    }
    const id = ++this.#flowRequest;
    const dropped = new Map<Worker, number>();
    const replies = await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<[number, number][]>((resolve) => {
            const onMessage = (message: {
              type: string;
              id?: number;
              flows?: [number, number][];
              accepts?: [number, number][];
              dropped?: number;
            }) => {
              if (message.type !== 'flows' || message.id !== id) return;
              worker.off('message', onMessage);
              dropped.set(worker, message.dropped ?? 0);
              for (const [at, port] of message.accepts ?? []) this.#recordAccept(at, port);
              resolve(message.flows ?? []);
            };
            worker.on('message', onMessage);
            worker.send({ type: 'flows', id });
          }),
      ),
    );
    this.dropped = [...dropped.values()].reduce((sum, n) => sum + n, 0);
    const counts = new Map<number, number>();
    for (const [port, count] of replies.flat()) counts.set(port, (counts.get(port) ?? 0) + count);
    return counts;
  }

  /** Publish a new endpoint set; it takes effect after the propagation lag. Resolves when it has. */
  update(endpoints: Endpoint[]): Promise<void> {
    return this.#lag.publish(endpoints);
  }

  #apply(endpoints: Endpoint[]): void {
    this.#core?.apply(endpoints);
    for (const worker of this.#workers) worker.send({ type: 'endpoints', endpoints });
  }

  async close(): Promise<void> {
    this.#lag.clear();
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
