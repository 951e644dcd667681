// The cloud load balancer's view of the nodes behind a Service with externalTrafficPolicy Local, for both of
// the lab's data paths. A node passes its health check only while kube-proxy's healthCheckNodePort finds a
// local endpoint that is ready and not terminating (pkg/proxy/healthcheck), and the LB learns a change only
// through its own probes: every `intervalMs`, unhealthy after `unhealthyThreshold` failures in a row, healthy
// after `healthyThreshold` successes (per LB kind: proxy-core.ts lbHealthCheck). A node new to the LB gets
// traffic once a probe has passed on it. With no healthy node the LB sends to every node, as GCP does.
// What becomes of an unhealthy node's established flows depends on the LB's kind (proxy-core.ts LbKind).

export interface HealthCheck {
  intervalMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

/** What the probes need of an endpoint. */
export interface NodeEndpoint {
  ready: boolean;
  terminating: boolean;
  node: string;
}

interface NodeHealth {
  healthy: boolean;
  failures: number;
  successes: number;
}

export class CloudLbHealth {
  readonly #nodes = new Map<string, NodeHealth>();
  readonly #probe: ReturnType<typeof setInterval>;
  #endpoints: NodeEndpoint[] = [];

  /** `onHealth` is called when the LB's view of a node changes. */
  constructor(
    private readonly check: HealthCheck,
    private readonly onHealth: (node: string, healthy: boolean) => void,
  ) {
    // Probes run on their own clock, not in step with endpoint changes.
    this.#probe = setInterval(() => this.#runProbes(), check.intervalMs);
    this.#probe.unref();
  }

  /** The endpoints as the nodes' kube-proxies see them now. */
  update(endpoints: NodeEndpoint[]): void {
    this.#endpoints = endpoints;
    for (const endpoint of endpoints) {
      if (!this.#nodes.has(endpoint.node))
        this.#nodes.set(endpoint.node, { healthy: false, failures: 0, successes: 0 });
    }
  }

  /** The nodes the LB sends new connections to: the healthy ones with endpoints, else all of them. */
  pool(): string[] {
    const nodes = [...new Set(this.#endpoints.map((endpoint) => endpoint.node))];
    const healthy = nodes.filter((node) => this.#nodes.get(node)?.healthy === true);
    return healthy.length > 0 ? healthy : nodes;
  }

  stop(): void {
    clearInterval(this.#probe);
  }

  #runProbes(): void {
    const { unhealthyThreshold, healthyThreshold } = this.check;
    const nodes = new Set(this.#endpoints.map((endpoint) => endpoint.node));
    for (const [node, health] of this.#nodes) {
      const passes = this.#endpoints.some(
        (endpoint) => endpoint.node === node && endpoint.ready && !endpoint.terminating,
      );
      const was = health.healthy;
      if (passes) {
        health.failures = 0;
        if (++health.successes >= healthyThreshold) health.healthy = true;
      } else {
        health.successes = 0;
        if (++health.failures >= unhealthyThreshold) health.healthy = false;
      }
      if (health.healthy !== was) this.onHealth(node, health.healthy);
      if (!nodes.has(node) && !health.healthy) this.#nodes.delete(node);
    }
  }
}
