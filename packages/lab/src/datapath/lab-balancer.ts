// What the lab needs of a data path between its clients and its pods, and the two it has: the Node balancer
// (node/node-balancer.ts: a JavaScript model of the cloud LB and kube-proxy, portable) and the kernel data path
// (kernel/kernel-balancer.ts: network namespaces, kube-proxy-style iptables rules and conntrack; root on Linux).

import type { Server } from 'node:net';
import type { Endpoint } from './node/proxy-core.js';

/** Where a process of the lab runs and serves: its network namespace (none: the lab's own), host and port. */
export interface Placement {
  namespace?: string;
  host: string;
  /** 0: an ephemeral port. */
  port: number;
  /**
   * Where a pod's admin server may listen so the other pods reach it (rebalancing reads its peers' status):
   * its own address in its namespace, or a loopback address of its own. Pods only.
   */
  adminHost?: string;
}

export type DataPath = 'node' | 'kernel';

export interface LabBalancer {
  readonly dataPath: DataPath;
  /** Where clients connect: the Service's address. */
  readonly url: string;
  /** Every connection the Service routed to a pod: when (epoch ms) and to which pod port. */
  readonly accepts: { at: number; port: number }[];
  /** Connection attempts a node dropped (as of the last openFlows()). */
  readonly dropped: number;
  /** How often the accept log lost events (the kernel's event stream overflowed); 0: it is complete. */
  readonly eventsLost: number;
  listen(): Promise<unknown>;
  /** Publish a new endpoint set; it takes effect after the propagation lag. Resolves when it has. */
  update(endpoints: Endpoint[]): Promise<void>;
  /** Established flows per pod port, now (or as of the last second). */
  openFlows(): Promise<Map<number, number>>;
  /** Bring the accept log and the dropped count up to date (before they are read). */
  settle(): Promise<void>;
  /** Where a new pod runs (its port is the pod's identity in the endpoints). */
  placePod(name: string): Placement;
  /** The admin address the `ordinal`-th pod placed (1-based) gets: the peers a rebalancing pod reads. */
  adminHostOf(ordinal: number): string;
  /** Where a process in front of the Service runs, beside the clients (the relay rows' relay). */
  clientPlacement(): Placement;
  /** A listening socket the pods can reach (for the lab's pod API), or undefined: loopback will do. */
  listenerForPods(): Promise<{ server: Server; host: string } | undefined>;
  /** 'health' (node, healthy): the cloud LB's view of a node changed (externalTrafficPolicy Local). */
  on(event: 'health', listener: (node: string, healthy: boolean) => void): this;
  close(): Promise<void>;
}
