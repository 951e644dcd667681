// The lab's data path on the real Linux kernel (issue 15, first part): a node network namespace routing
// between a client namespace and one namespace per pod over veth pairs, and a Service virtual IP whose NAT
// rules are written the way kube-proxy's iptables mode writes them (pkg/proxy/iptables/proxier.go): a
// service chain matching the VIP and port, one `-m statistic --mode random --probability 1/(n−i)` jump per
// endpoint to an endpoint chain that DNATs to it (the last without statistic), terminating endpoints used only
// when no serving endpoint is left (Kubernetes ≥ 1.26, KEP-1669), and a REJECT when there is no endpoint at all.
// Established flows then live or die by the kernel's conntrack: no JavaScript decides it. The Dataplane V2
// behaviour — a removed backend's flows reset (cilium#23761) — is a *model* of Cilium on top: the backend's
// conntrack entries are deleted and the flows' next packets, now invalid, are rejected with a TCP reset.
//
// Addresses (10.214.0.0/16) live only inside the namespaces this creates; the host's own namespace, routes and
// rules are never touched. Names carry the creating process's id; leftovers of a process that is gone are
// removed before a new dataplane is made, and destroy() removes everything (deleting a namespace removes its
// veth ends and its rules with it).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';

const PREFIX = 'baton-k';
const NODE_ADDRESS = '10.214.0.1';
export const SERVICE_ADDRESS = '10.214.255.1';
export const SERVICE_PORT = 80;

export interface KernelEndpoint {
  /** The pod (from addPod). */
  pod: string;
  port: number;
  ready: boolean;
  terminating: boolean;
}

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class KernelDataplane {
  readonly #id: string;
  readonly #pods = new Map<string, { namespace: string; address: string }>();
  readonly #namespaces: string[] = [];
  #destroyed = false;

  /** Root, iproute2, iptables-restore and conntrack: what this dataplane needs. */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      run('ip', ['netns', 'list']);
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
    for (const line of run('ip', ['netns', 'list']).split('\n')) {
      const name = line.split(' ')[0] ?? '';
      const pid = Number(/^baton-k(\d+)-/.exec(name)?.[1]);
      if (!name.startsWith(PREFIX) || !Number.isInteger(pid) || pidAlive(pid)) continue;
      run('ip', ['netns', 'delete', name]);
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
    this.#id = `${KernelDataplane.prefixOfThisProcess()}${instance}`;
    try {
      const node = this.#namespace('n');
      this.#ip(node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      // Stray packets of a flow whose conntrack entry was deleted (the DPv2 model) are invalid: answer them with
      // a reset instead of letting them reach a backend that never saw the flow.
      run('ip', [
        'netns',
        'exec',
        node,
        'iptables',
        '-A',
        'FORWARD',
        '-p',
        'tcp',
        '-m',
        'conntrack',
        '--ctstate',
        'INVALID',
        '-j',
        'REJECT',
        '--reject-with',
        'tcp-reset',
      ]);
      this.#attach('c', 1);
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

  /** A pod's own namespace and address, joined to the node. */
  addPod(name: string): { namespace: string; address: string } {
    if (!/^[a-z0-9]{1,6}$/.test(name)) throw new RangeError('pod names here are 1–6 lowercase letters or digits');
    const index = this.#pods.size + 2;
    if (index > 250) throw new RangeError('at most 249 pods per dataplane');
    const pod = { namespace: this.#attach(`p${name}`, index), address: `10.214.1.${index}` };
    this.#pods.set(name, pod);
    return pod;
  }

  /**
   * Publish the Service's endpoints, as kube-proxy's next sync would (the caller applies the propagation lag).
   * Written with one iptables-restore, so the switch is atomic; the nat table's conntrack entries are untouched.
   */
  apply(endpoints: KernelEndpoint[]): void {
    const serving = endpoints.filter((e) => e.ready && !e.terminating);
    const chosen = serving.length > 0 ? serving : endpoints.filter((e) => e.terminating);
    // The node's nat table holds only this Service: rewritten whole, in one transaction (conntrack keeps the
    // established flows' translations whatever the table says now).
    const nat = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':BATON-SERVICES - [0:0]',
      ':BATON-SVC - [0:0]',
      ...chosen.map((_, i) => `:BATON-SEP-${i} - [0:0]`),
      '-A PREROUTING -j BATON-SERVICES',
      `-A BATON-SERVICES -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j BATON-SVC`,
      ...chosen.map((_, i) => {
        const rest = chosen.length - i;
        return rest > 1
          ? `-A BATON-SVC -m statistic --mode random --probability ${(1 / rest).toFixed(11)} -j BATON-SEP-${i}`
          : `-A BATON-SVC -j BATON-SEP-${i}`;
      }),
      ...chosen.map(
        (endpoint, i) =>
          `-A BATON-SEP-${i} -p tcp -j DNAT --to-destination ${this.#address(endpoint.pod)}:${endpoint.port}`,
      ),
      'COMMIT',
      '',
    ];
    run('ip', ['netns', 'exec', this.nodeNamespace, 'iptables-restore'], nat.join('\n'));
    // A Service without endpoints: kube-proxy rejects its connects (ICMP port unreachable), so they fail at once.
    // A chain named in a --noflush restore is flushed and refilled; the rest of the filter table stays.
    const filter = ['*filter', ':BATON-NO-ENDPOINTS - [0:0]'];
    if (chosen.length === 0) {
      filter.push(`-A BATON-NO-ENDPOINTS -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j REJECT`);
    }
    filter.push('COMMIT', '');
    run('ip', ['netns', 'exec', this.nodeNamespace, 'iptables-restore', '--noflush'], filter.join('\n'));
  }

  /** Dataplane V2 model: a backend removed from the Service has its established flows reset. */
  resetFlowsOf(pod: string): number {
    try {
      const out = execFileSync(
        'ip',
        ['netns', 'exec', this.nodeNamespace, 'conntrack', '-D', '-p', 'tcp', '--reply-src', this.#address(pod)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      return out.split('\n').filter((line) => line.startsWith('tcp')).length;
    } catch (error) {
      // conntrack exits 1 when nothing matched.
      if ((error as { status?: number }).status === 1) return 0;
      throw error;
    }
  }

  /** Established TCP flows to each pod, from the node's conntrack table. */
  flows(): Map<string, number> {
    const counts = new Map<string, number>();
    const byAddress = new Map([...this.#pods].map(([name, pod]) => [pod.address, name]));
    let out = '';
    try {
      out = run('ip', ['netns', 'exec', this.nodeNamespace, 'conntrack', '-L', '-p', 'tcp', '--state', 'ESTABLISHED']);
    } catch (error) {
      if ((error as { status?: number }).status !== 1) throw error;
    }
    for (const line of out.split('\n')) {
      // The reply direction's source is the backend the flow was DNATed to.
      const source = /src=(\S+).*src=(\S+)/.exec(line)?.[2];
      const pod = source ? byAddress.get(source) : undefined;
      if (pod) counts.set(pod, (counts.get(pod) ?? 0) + 1);
    }
    return counts;
  }

  /** `node args` inside a namespace (a pod's, or the clients'). */
  node(namespace: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', namespace, process.execPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit', 'ipc'],
    });
  }

  /** Remove every namespace (with its links and rules). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const namespace of this.#namespaces.reverse()) {
      try {
        run('ip', ['netns', 'delete', namespace]);
      } catch {
        // Already gone.
      }
    }
  }

  #address(pod: string): string {
    const found = this.#pods.get(pod);
    if (!found) throw new RangeError(`no pod ${pod} in this dataplane`);
    return found.address;
  }

  #namespace(suffix: string): string {
    const name = `${this.#id}${suffix}`;
    run('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    this.#ip(name, 'ip', 'link', 'set', 'lo', 'up');
    return name;
  }

  #ip(namespace: string, ...command: string[]): void {
    run('ip', ['netns', 'exec', namespace, ...command]);
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
