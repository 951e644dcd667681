// The lab's kernel data path (`--dataplane kernel`): the same contract as the Node balancer (lab-balancer.ts),
// served by the Linux kernel. Each pod is a network namespace of its own (kernel-dataplane.ts), the clients are
// in another, and a Service address's iptables rules — written as kube-proxy writes them — send new flows to the
// endpoints the lab publishes, after the propagation lag it models. Established flows then live or die by the
// kernel's conntrack. What is still a model, in JavaScript:
//  - the cloud LB's health checks of the nodes (externalTrafficPolicy Local, ../cloud-lb-health.ts): which nodes
//    BATON-LB sends to is re-written whenever their view changes;
//  - Dataplane V2 (dataplane 'dpv2'): a backend removed from the Service has its flows reset, the clients' ends
//    aborted and its conntrack entries deleted (cilium#23761) — a model of Cilium's behaviour, not Cilium.
// What the lab reports comes from the node's conntrack, not from any proxy of ours: accepts per pod and dropped
// connects from its event stream (`conntrack -E -e NEW`, timestamped as conntrack receives each event), open
// flows per pod from its table (`conntrack -L`, at most once a second). The stream is written to an unlinked
// file, never a pipe: when a pipe's reader (this process, busy with a release) fell behind, conntrack blocked
// and the kernel dropped events (ENOBUFS, whatever the netlink buffer size: 445 of 3,000 NEW events seen with
// this process busy for 1 s; 3,000 of 3,000 through the file). Should conntrack still report lost events, the
// report says so: its accept counts are then a lower bound.

import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { closeSync, openSync, readSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CloudLbHealth } from '../cloud-lb-health.js';
import type { LabBalancer, Placement } from '../lab-balancer.js';
import type { NodeBalancerOptions } from '../node/node-balancer.js';
import { DEFAULT_ROUTING, type Endpoint, nodeOf, type RoutingOptions } from '../node/proxy-core.js';
import { PropagationLag } from '../propagation-lag.js';
import {
  BLACKHOLE_ADDRESS,
  inNamespace,
  KernelDataplane,
  NODE_ADDRESS,
  SERVICE_ADDRESS,
  SERVICE_PORT,
} from './kernel-dataplane.js';

/** Pods listen on a port of their own (the lab's pod identity), from here up. */
const FIRST_POD_PORT = 20_000;

// One conntrack event line: "[epoch.micro] [NEW] tcp 6 120 SYN_SENT src=… dst=… sport=… dport=… [UNREPLIED]
// src=… dst=… sport=… dport=…". The reply direction's source is the backend the flow was DNATed to. (No ids:
// the kernel derives them from the entry's address and tuple, so a reconnect from a reused port repeats one.)
const EVENT =
  /^\[(\d+\.\d+)\]\s+\[NEW\]\s+tcp\s+6\s+\d+\s+([A-Z_]+)\s+src=\S+ dst=(\S+) .*?src=(\S+) dst=\S+ sport=(\d+) /;
/** The table is read at most this often (20,000 flows are a 5 MB listing). */
const FLOWS_EVERY_MS = 1_000;

let instances = 0;

/** The fewest SYN retries whose back-off (1 s, doubling) lasts at least `ms`: the kernel's connect timeout. */
export function synRetriesFor(ms: number): number {
  let retries = 1;
  while (retries < 6 && (2 ** (retries + 1) - 1) * 1000 < ms) retries++;
  return retries;
}

export class KernelBalancer extends EventEmitter<{ health: [string, boolean] }> implements LabBalancer {
  readonly dataPath = 'kernel';
  readonly accepts: { at: number; port: number }[] = [];
  dropped = 0;
  readonly #lag: PropagationLag;
  readonly #routing: RoutingOptions;
  /** Lab pod port → the dataplane's pod name, and back. */
  readonly #pods = new Map<number, string>();
  readonly #ports = new Map<string, number>();
  #flows: { at: number; counts: Promise<Map<number, number>> } | undefined;
  /** How often conntrack said its event stream lost events (ENOBUFS); 0: the accept log is complete. */
  eventsLost = 0;
  #plane: KernelDataplane | undefined;
  #health: CloudLbHealth | undefined;
  /** The node of every pod port ever published (the target pool's move resets flows by node). */
  readonly #nodeOfPort = new Map<number, string>();
  #events: ChildProcess | undefined;
  /** The event file (unlinked: it goes with the last descriptor), read from `#eventsRead` on. */
  #eventsFd: number | undefined;
  #eventsRead = 0;
  #partialLine = '';
  readonly #readBuffer = Buffer.allocUnsafe(1 << 20);
  #reader: ReturnType<typeof setInterval> | undefined;
  #listener: Server | undefined;
  #endpoints: Endpoint[] = [];
  #closed = false;

  /** Root with iproute2, iptables and conntrack: see KernelDataplane.available(). */
  static available(): boolean {
    return KernelDataplane.available();
  }

  constructor(options: NodeBalancerOptions = {}) {
    super();
    this.#lag = new PropagationLag(options.propagationLagMs ?? 0, (endpoints) => this.#apply(endpoints));
    this.#routing = { ...DEFAULT_ROUTING, ...options.routing };
  }

  get url(): string {
    return `ws://${SERVICE_ADDRESS}:${SERVICE_PORT}`;
  }

  async listen(): Promise<void> {
    const plane = new KernelDataplane(instances++);
    this.#plane = plane;
    try {
      const clients = plane.clientNamespace;
      // One client address holds every client's connection: the whole port range, and TIME_WAIT ports reused
      // (loopback gets that by default, a veth does not). The SYN back-off lasts about the lab's scaled timeout.
      plane.sysctl(clients, 'net.ipv4.ip_local_port_range', '1024 65535');
      plane.sysctl(clients, 'net.ipv4.tcp_tw_reuse', '1');
      plane.sysctl(clients, 'net.ipv4.tcp_syn_retries', String(synRetriesFor(this.#routing.synTimeoutMs)));
      if (this.#routing.externalTrafficPolicy === 'Local') {
        this.#health = new CloudLbHealth(this.#routing.healthCheck, (node, healthy) => {
          // The LB's view of a node changed: it sends to the new set of nodes at once.
          if (!this.#closed) this.#program();
          // A target pool moves the unhealthy node's established flows elsewhere, where they are reset (LbKind).
          if (!healthy && !this.#closed && this.#routing.lbKind === 'target-pool') this.#resetNode(node);
          this.emit('health', node, healthy);
        });
      }
      await this.#watchConntrack(plane);
      this.#program();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  placePod(): Placement {
    const plane = this.#planeOrThrow();
    const index = this.#pods.size + 1;
    const name = index.toString(36);
    const { namespace, address } = plane.addPod(name);
    const port = FIRST_POD_PORT + index;
    this.#pods.set(port, name);
    this.#ports.set(name, port);
    return { namespace, host: address, port, adminHost: address };
  }

  adminHostOf(ordinal: number): string {
    return KernelDataplane.podAddress(ordinal);
  }

  clientPlacement(): Placement {
    return { namespace: this.#planeOrThrow().clientNamespace, host: '127.0.0.1', port: 0 };
  }

  async listenerForPods(): Promise<{ server: Server; host: string }> {
    this.#listener ??= await this.#planeOrThrow().listenInNode();
    return { server: this.#listener, host: NODE_ADDRESS };
  }

  update(endpoints: Endpoint[]): Promise<void> {
    return this.#lag.publish(endpoints);
  }

  /** Established flows per pod port, from the node's conntrack table (read at most once a second). */
  openFlows(): Promise<Map<number, number>> {
    const now = performance.now();
    if (!this.#flows || now - this.#flows.at >= FLOWS_EVERY_MS) this.#flows = { at: now, counts: this.#readTable() };
    return this.#flows.counts;
  }

  /** The table read now, and every event conntrack has written so far. */
  async settle(): Promise<void> {
    this.#flows = { at: performance.now(), counts: this.#readTable() };
    await this.#flows.counts;
    this.#readEvents();
  }

  /** One listing of the Service's established flows, per pod port. */
  async #readTable(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const [pod, count] of await this.#planeOrThrow().flows()) {
      const port = this.#ports.get(pod);
      if (port !== undefined) counts.set(port, count);
    }
    return counts;
  }

  /** Remove everything it made (namespaces, links, rules) and stop its watcher. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lag.clear();
    this.#health?.stop();
    this.#listener?.close();
    if (this.#reader) clearInterval(this.#reader);
    const events = this.#events;
    if (events && events.exitCode === null && events.signalCode === null) {
      const exited = once(events, 'exit');
      events.kill();
      await exited;
    }
    this.#plane?.destroy();
    if (this.#eventsFd !== undefined) closeSync(this.#eventsFd);
    this.#eventsFd = undefined;
  }

  #apply(endpoints: Endpoint[]): void {
    if (this.#closed) return;
    const kept = new Set(endpoints.map((endpoint) => endpoint.port));
    const removed = this.#endpoints.filter((endpoint) => !kept.has(endpoint.port));
    this.#endpoints = endpoints;
    for (const endpoint of endpoints) this.#nodeOfPort.set(endpoint.port, nodeOf(endpoint));
    this.#health?.update(endpoints.map((endpoint) => ({ ...endpoint, node: nodeOf(endpoint) })));
    this.#program();
    if (this.#routing.dataplane !== 'dpv2') return;
    // The Dataplane V2 model: the removed backends' flows lose their state; their next packets are reset.
    for (const endpoint of removed) {
      const pod = this.#pods.get(endpoint.port);
      if (pod) this.#planeOrThrow().resetFlowsOf(pod);
    }
  }

  #resetNode(node: string): void {
    // Every pod the node ever ran, endpoint or not now: a selector flip removes endpoints whose flows remain.
    for (const [port, podNode] of this.#nodeOfPort) {
      const pod = this.#pods.get(port);
      if (pod && podNode === node) this.#planeOrThrow().resetFlowsOf(pod);
    }
  }

  /** Write the rules for the endpoints and the LB's view of the nodes now. */
  #program(): void {
    const plane = this.#planeOrThrow();
    plane.apply(
      this.#endpoints.flatMap((endpoint) => {
        const pod = this.#pods.get(endpoint.port);
        return pod ? [{ ...endpoint, pod, node: nodeOf(endpoint) }] : [];
      }),
      {
        externalTrafficPolicy: this.#routing.externalTrafficPolicy,
        proxyTerminatingEndpoints: this.#routing.proxyTerminatingEndpoints,
        ...(this.#health ? { lbNodes: this.#health.pool() } : {}),
      },
    );
  }

  /** Follow the node's conntrack events for the Service's flows; resolves once subscribed. */
  async #watchConntrack(plane: KernelDataplane): Promise<void> {
    const path = join(tmpdir(), `baton-lab-conntrack-${process.pid}-${instances}.log`);
    const writeFd = openSync(path, 'w');
    this.#eventsFd = openSync(path, 'r');
    unlinkSync(path);
    const [command, args] = inNamespace(plane.nodeNamespace, 'conntrack', [
      '-E',
      '-e',
      'NEW',
      '-p',
      'tcp',
      '--orig-dst',
      SERVICE_ADDRESS,
      '-o',
      'timestamp',
      // 20,000 clients may connect in one second.
      '--buffer-size',
      String(64 * 1024 * 1024),
    ]);
    const events = spawn(command, args, { stdio: ['ignore', writeFd, 'pipe'] });
    closeSync(writeFd);
    this.#events = events;
    this.#reader = setInterval(() => this.#readEvents(), 250);
    this.#reader.unref();
    // conntrack says so on stderr once its netlink socket (already subscribed) has the buffer size.
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      // stdio[2] is 'pipe', so stderr is there.
      (events.stderr as Readable).setEncoding('utf8').on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-4000);
        this.eventsLost += chunk.split('ENOBUFS').length - 1;
        if (stderr.includes('buffer size')) resolve();
      });
      events.once('exit', (code) => reject(new Error(`conntrack -E exited (${code}): ${stderr.trim()}`)));
    });
  }

  /** Read what conntrack appended to the event file since the last read. */
  #readEvents(): void {
    if (this.#eventsFd === undefined) return;
    const buffer = this.#readBuffer;
    for (;;) {
      const bytes = readSync(this.#eventsFd, buffer, 0, buffer.length, this.#eventsRead);
      if (bytes === 0) return;
      this.#eventsRead += bytes;
      const lines = (this.#partialLine + buffer.toString('utf8', 0, bytes)).split('\n');
      this.#partialLine = lines.pop() ?? '';
      for (const line of lines) this.#onEvent(line);
    }
  }

  #onEvent(line: string): void {
    const match = EVENT.exec(line);
    if (!match) return;
    const [, stamp, state, origDst, replySrc, replyPort] = match as unknown as string[];
    // Only a SYN opens a flow: conntrack also picks up the stray mid-flow packets of a reset flow.
    if (origDst !== SERVICE_ADDRESS || state !== 'SYN_SENT') return;
    if (replySrc === BLACKHOLE_ADDRESS) this.dropped++;
    else this.accepts.push({ at: Math.round(Number(stamp) * 1000), port: Number(replyPort) });
  }

  #planeOrThrow(): KernelDataplane {
    if (!this.#plane || this.#closed) throw new Error('the kernel data path is not listening');
    return this.#plane;
  }
}
