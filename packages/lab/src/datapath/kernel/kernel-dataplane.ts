// The lab's data path on the real Linux kernel: a node network namespace routing
// between a client namespace and one namespace per pod over veth pairs, and a Service virtual IP whose NAT
// rules are written the way kube-proxy's iptables mode writes them (pkg/proxy/iptables/proxier.go): a
// service chain matching the VIP and port, random jumps to endpoint chains that DNAT (kube-proxy-rules.ts, a
// pure function), applied here in one transaction.
// Established flows then live or die by the kernel's conntrack: no JavaScript decides it. The Dataplane V2
// behaviour — a removed backend's flows reset (cilium#23761) — is a *model* of Cilium on top: the clients' ends
// of the backend's flows are aborted, then its conntrack entries deleted (resetFlowsOf).
//
// Addresses (10.214.0.0/16) live only inside the namespaces this creates; the host's own namespace, routes and
// rules are never touched. Names carry the creating process's id, so two labs never collide. Removed: by
// destroy() (deleting a namespace removes its veth ends and its rules; processes still inside are killed
// first, or the namespace would outlive its name); by an 'exit' handler of this process for dataplanes not
// destroyed; when this process is killed, by a detached watchdog that notices it is gone (SIGKILL runs no
// handler); and, should even that fail, as a dead process's leftovers before the next dataplane is made.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:net';
import {
  CLUSTER_ROUTING,
  type KernelEndpoint,
  type KernelRouting,
  kubeProxyRules,
  SERVICE_ADDRESS,
} from './kube-proxy-rules.js';
import { addNamespace, inNamespace, namespaces, pidAlive, removeNamespace, run, runIn } from './netns.js';
import { guardThisProcess } from './watchdog.js';

export {
  BLACKHOLE_ADDRESS,
  type KernelEndpoint,
  type KernelRouting,
  SERVICE_ADDRESS,
  SERVICE_PORT,
} from './kube-proxy-rules.js';
export { inNamespace } from './netns.js';

const PREFIX = 'baton-k';
export const NODE_ADDRESS = '10.214.0.1';

const live = new Set<KernelDataplane>();

export class KernelDataplane {
  readonly #id: string;
  readonly #pods = new Map<string, { namespace: string; address: string }>();
  readonly #namespaces: string[] = [];
  #destroyed = false;

  /** Root, iproute2 (ip, ss), iptables-restore and conntrack: what this dataplane needs. */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      namespaces();
      run('ss', ['-V']);
      run('iptables-restore', ['--version']);
      run('conntrack', ['--version']);
      return true;
    } catch {
      return false;
    }
  }

  /** Namespaces of dataplanes whose process is gone (a crashed or killed lab). */
  static removeLeftovers(): string[] {
    const removed: string[] = [];
    for (const name of namespaces()) {
      const pid = Number(/^baton-k(\d+)-/.exec(name)?.[1]);
      if (!name.startsWith(PREFIX) || !Number.isInteger(pid) || pidAlive(pid)) continue;
      removeNamespace(name);
      removed.push(name);
    }
    return removed;
  }

  /** Every namespace name this process's dataplanes use starts with this. */
  static prefixOfThisProcess(): string {
    return `${PREFIX}${process.pid}-`;
  }

  constructor(instance = 0) {
    KernelDataplane.removeLeftovers();
    guardThisProcess(KernelDataplane.prefixOfThisProcess(), () => {
      for (const dataplane of live) dataplane.destroy();
    });
    live.add(this);
    this.#id = `${KernelDataplane.prefixOfThisProcess()}${instance}`;
    try {
      const node = this.#namespace('n');
      this.#ip(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      // Packets conntrack finds INVALID (out of window under load, a retransmit) are dropped, as kube-proxy's
      // KUBE-FORWARD chain does: left alone they go un-NATed to a pod, which answers with a reset and kills a
      // healthy connection (kubernetes#74839, fixed by #74840; since 1.28 only without
      // nf_conntrack_tcp_be_liberal, #120412). Answering them with a reset, as this lab first did, closed moving
      // Baton clients' connections under load.
      this.#ip(node, 'iptables', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
      this.#attach('c', 1);
      // A SYN that a node drops (externalTrafficPolicy Local with no usable local endpoint, Kubernetes < 1.26)
      // is sent here instead, where nothing answers it: the node's conntrack records the flow, so its SYN
      // retries stay on it and each dropped connect is one entry (what the lab counts), not one per retry.
      const blackhole = this.#attach('x', 254);
      this.#ip(blackhole, 'iptables', '-A', 'INPUT', '-p', 'tcp', '-j', 'DROP');
      this.apply([]);
      // FORWARD → BATON-NO-ENDPOINTS, once: each apply() refills that chain and leaves the hook alone.
      this.#ip(node, 'iptables', '-I', 'FORWARD', '1', '-j', 'BATON-NO-ENDPOINTS');
    } catch (error) {
      this.destroy();
      throw error;
    }
  }

  /** The namespace the clients run in. */
  get clientNamespace(): string {
    return `${this.#id}c`;
  }

  get nodeNamespace(): string {
    return `${this.#id}n`;
  }

  /** The address of the `ordinal`-th pod added (1-based): the client namespace has 10.214.1.1. */
  static podAddress(ordinal: number): string {
    return `10.214.1.${ordinal + 1}`;
  }

  /** A pod's own namespace and address, joined to the node. */
  addPod(name: string): { namespace: string; address: string } {
    if (!/^[a-z0-9]{1,6}$/.test(name)) throw new RangeError('pod names here are 1–6 lowercase letters or digits');
    const index = this.#pods.size + 2;
    if (index > 250) throw new RangeError('at most 249 pods per dataplane');
    const pod = {
      namespace: this.#attach(`p${name}`, index),
      address: KernelDataplane.podAddress(this.#pods.size + 1),
    };
    this.#pods.set(name, pod);
    return pod;
  }

  /**
   * Publish the Service's endpoints, as kube-proxy's next sync would (the caller applies the propagation lag):
   * the rules of kube-proxy-rules.ts, the nat table in one iptables-restore, so the switch is atomic; the nat
   * table's conntrack entries are untouched.
   */
  apply(endpoints: KernelEndpoint[], routing: KernelRouting = CLUSTER_ROUTING): void {
    const { nat, filter } = kubeProxyRules(endpoints, routing, (pod) => this.#address(pod));
    runIn(this.nodeNamespace, 'iptables-restore', [], nat);
    runIn(this.nodeNamespace, 'iptables-restore', ['--noflush'], filter);
  }

  /** Set a (per-namespace) sysctl inside one of this dataplane's namespaces. */
  sysctl(namespace: string, key: string, value: string): void {
    if (!this.#namespaces.includes(namespace))
      throw new RangeError(`${namespace} is not a namespace of this dataplane`);
    this.#ip(namespace, 'sysctl', '-qw', `${key}=${value}`);
  }

  /**
   * Dataplane V2 model: a backend removed from the Service has its established flows reset. The clients' ends
   * are aborted (`ss -K`: their next read fails at once, and their reset reaches the backend through the flow's
   * translation); then the backend's conntrack entries go, so any stray packet of those flows is reset too. On
   * Cilium a client learns at its next packet; the lab's clients, which mostly only listen, would never send
   * one, so the model resets them at once, as the Node balancer's model does. Returns the flows reset.
   */
  resetFlowsOf(pod: string): number {
    const address = this.#address(pod);
    const conntrack = (...args: string[]) => {
      try {
        return runIn(this.nodeNamespace, 'conntrack', [...args, '-p', 'tcp', '--reply-src', address]);
      } catch (error) {
        // conntrack exits 1 when nothing matched.
        if ((error as { status?: number }).status === 1) return '';
        throw error;
      }
    };
    // The original direction's source port: the client's end of each flow.
    const ports = [...conntrack('-L').matchAll(/^tcp\s.*?sport=(\d+)/gm)].map((match) => match[1] as string);
    for (let i = 0; i < ports.length; i += 100) {
      const chunk = ports.slice(i, i + 100).flatMap((port, j) => [...(j > 0 ? ['or'] : []), 'sport', '=', `:${port}`]);
      runIn(this.clientNamespace, 'ss', ['-K', '-t', '-n', 'dst', SERVICE_ADDRESS, '(', ...chunk, ')']);
    }
    conntrack('-D');
    return ports.length;
  }

  /**
   * The Service's established flows to each pod, from the node's conntrack table. Read without blocking this
   * process: 20,000 flows are a 5 MB listing.
   */
  flows(): Promise<Map<string, number>> {
    const byAddress = new Map([...this.#pods].map(([name, pod]) => [pod.address, name]));
    const [command, args] = inNamespace(this.nodeNamespace, 'conntrack', [
      '-L',
      '-p',
      'tcp',
      '--orig-dst',
      SERVICE_ADDRESS,
      '--state',
      'ESTABLISHED',
    ]);
    return new Promise((resolve, reject) => {
      execFile(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => {
        // conntrack exits 1 when nothing matched.
        if (error && error.code !== 1) return reject(error);
        const counts = new Map<string, number>();
        for (const line of stdout.split('\n')) {
          // The reply direction's source is the backend the flow was DNATed to.
          const source = /src=(\S+).*src=(\S+)/.exec(line)?.[2];
          const pod = source ? byAddress.get(source) : undefined;
          if (pod) counts.set(pod, (counts.get(pod) ?? 0) + 1);
        }
        resolve(counts);
      });
    });
  }

  /** `node args` inside a namespace (a pod's, or the clients'). */
  node(namespace: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const [command, commandArgs] = inNamespace(namespace, process.execPath, args);
    return spawn(command, commandArgs, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit', 'ipc'],
    });
  }

  /**
   * A listening TCP socket on the node's address, inside the node namespace, handed to this process: every pod
   * and the clients reach it (the lab's pod API lives there), and the host's namespace gets no address. A
   * helper process opens it there and passes the descriptor over IPC (a socket keeps its namespace).
   */
  async listenInNode(): Promise<Server> {
    const helper = this.node(this.nodeNamespace, [
      '-e',
      `const server = require('node:net').createServer();
       server.listen(0, '${NODE_ADDRESS}', () => process.send('listening', server, () => process.exit(0)));`,
    ]);
    const [message, handle] = (await once(helper, 'message')) as [string, Server];
    if (message !== 'listening' || !handle) throw new Error('the node namespace helper sent no listening socket');
    return handle;
  }

  /** Remove every namespace (with its links and rules). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    for (const namespace of this.#namespaces.reverse()) removeNamespace(namespace);
  }

  #address(pod: string): string {
    const found = this.#pods.get(pod);
    if (!found) throw new RangeError(`no pod ${pod} in this dataplane`);
    return found.address;
  }

  #namespace(suffix: string): string {
    const name = `${this.#id}${suffix}`;
    addNamespace(name);
    this.#namespaces.push(name);
    this.#ip(name, 'ip', 'link', 'set', 'lo', 'up');
    return name;
  }

  #ip(namespace: string, command: string, ...args: string[]): void {
    runIn(namespace, command, args);
  }

  /** A namespace joined to the node by a veth pair, with 10.214.1.<index>, routed through the node. */
  #attach(suffix: string, index: number): string {
    const namespace = this.#namespace(suffix);
    const node = this.nodeNamespace;
    // Interface names are at most 15 characters: the node's end is named by index, the other is eth0.
    const link = `bk${index}`;
    const address = `10.214.1.${index}`;
    run('ip', ['link', 'add', link, 'netns', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    this.#ip(node, 'ip', 'addr', 'add', `${NODE_ADDRESS}/32`, 'dev', link);
    this.#ip(node, 'ip', 'link', 'set', link, 'up');
    this.#ip(node, 'ip', 'route', 'add', `${address}/32`, 'dev', link);
    this.#ip(namespace, 'ip', 'addr', 'add', `${address}/32`, 'dev', 'eth0');
    this.#ip(namespace, 'ip', 'link', 'set', 'eth0', 'up');
    this.#ip(namespace, 'ip', 'route', 'add', `${NODE_ADDRESS}/32`, 'dev', 'eth0');
    this.#ip(namespace, 'ip', 'route', 'add', 'default', 'via', NODE_ADDRESS);
    return namespace;
  }
}
