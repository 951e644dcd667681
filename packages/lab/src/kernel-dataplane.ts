// The lab's data path on the real Linux kernel (issue 15, first part): a node network namespace routing
// between a client namespace and one namespace per pod over veth pairs, and a Service virtual IP whose NAT
// rules are written the way kube-proxy's iptables mode writes them (pkg/proxy/iptables/proxier.go): a
// service chain matching the VIP and port, one `-m statistic --mode random --probability 1/(n−i)` jump per
// endpoint to an endpoint chain that DNATs to it (the last without statistic), terminating endpoints used only
// when no serving endpoint is left (Kubernetes ≥ 1.26, KEP-1669), and a REJECT when there is no endpoint at all.
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

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:net';

const PREFIX = 'baton-k';
export const NODE_ADDRESS = '10.214.0.1';
export const SERVICE_ADDRESS = '10.214.255.1';
export const SERVICE_PORT = 80;

/** Where the blackhole namespace lives: an address that answers nothing (a SYN a node drops). */
export const BLACKHOLE_ADDRESS = '10.214.1.254';

export interface KernelEndpoint {
  /** The pod (from addPod). */
  pod: string;
  port: number;
  /** Serving: it passes its readiness probe (a terminating pod may still serve: EndpointSlice `serving`). */
  ready: boolean;
  terminating: boolean;
  /** The node the pod runs on (externalTrafficPolicy Local). Default: a node of its own. */
  node?: string;
}

export interface KernelRouting {
  externalTrafficPolicy: 'Cluster' | 'Local';
  /** Kubernetes ≥ 1.26 (KEP-1669): with no serving endpoint, the serving terminating ones get new flows. */
  proxyTerminatingEndpoints: boolean;
  /** Local: the nodes the cloud LB sends new connections to (its health checks' view). Default: every node. */
  lbNodes?: string[];
}

const CLUSTER_ROUTING: KernelRouting = { externalTrafficPolicy: 'Cluster', proxyTerminatingEndpoints: true };

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

// The watchdog: polls the lab's pid; once it is gone, kills what still runs in its namespaces and deletes them.
const WATCHDOG = `
const { execFileSync } = require('node:child_process');
const [pid, prefix] = process.argv.slice(1);
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const timer = setInterval(() => {
  if (alive()) return;
  clearInterval(timer);
  const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\\n').map((l) => l.split(' ')[0]);
  for (const name of names.filter((n) => n && n.startsWith(prefix))) {
    try { execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\\n').filter(Boolean)
      .forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch {} }); } catch {}
    try { execFileSync('ip', ['netns', 'delete', name]); } catch {}
  }
}, 250);
`;

const live = new Set<KernelDataplane>();
let watchdogStarted = false;

/** Once per process: the 'exit' handler and the watchdog that clean up after this process. */
function guardThisProcess(): void {
  if (watchdogStarted) return;
  watchdogStarted = true;
  process.on('exit', () => {
    for (const dataplane of live) dataplane.destroy();
  });
  const watchdog = spawn(
    process.execPath,
    ['-e', WATCHDOG, String(process.pid), KernelDataplane.prefixOfThisProcess()],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watchdog.unref();
}

/** Kill whatever still runs inside a namespace (a pod whose lab was killed), so deleting it frees it. */
function killProcessesIn(namespace: string): void {
  let pids = '';
  try {
    pids = run('ip', ['netns', 'pids', namespace]);
  } catch {
    return;
  }
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * `command args` run inside a network namespace: `ip netns exec` execs it in place, so the child's pid,
 * signals, pipes and IPC descriptor are the command's own.
 */
export function inNamespace(namespace: string, command: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', namespace, command, ...args]];
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

  /** Root, iproute2 (ip, ss), iptables-restore and conntrack: what this dataplane needs. */
  static available(): boolean {
    if (process.getuid?.() !== 0) return false;
    try {
      run('ip', ['netns', 'list']);
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
    for (const line of run('ip', ['netns', 'list']).split('\n')) {
      const name = line.split(' ')[0] ?? '';
      const pid = Number(/^baton-k(\d+)-/.exec(name)?.[1]);
      if (!name.startsWith(PREFIX) || !Number.isInteger(pid) || pidAlive(pid)) continue;
      killProcessesIn(name);
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
    guardThisProcess();
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
      run('ip', [
        'netns',
        'exec',
        node,
        'iptables',
        '-A',
        'FORWARD',
        '-m',
        'conntrack',
        '--ctstate',
        'INVALID',
        '-j',
        'DROP',
      ]);
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
   *
   * Cluster: BATON-SVC picks one of the serving endpoints (kube-proxy's KUBE-SVC chain). Local: BATON-LB picks
   * one of `routing.lbNodes` — the cloud LB, a model — and that node's BATON-XLB chain one of its own endpoints
   * (kube-proxy's KUBE-SVL/KUBE-XLB chain); a node with none usable drops the SYN (KUBE-MARK-DROP), here by
   * sending it to the blackhole namespace.
   */
  apply(endpoints: KernelEndpoint[], routing: KernelRouting = CLUSTER_ROUTING): void {
    const usable = (candidates: KernelEndpoint[]) => {
      const serving = candidates.filter((e) => e.ready && !e.terminating);
      if (serving.length > 0 || !routing.proxyTerminatingEndpoints) return serving;
      return candidates.filter((e) => e.ready && e.terminating);
    };
    const sep = new Map<KernelEndpoint, string>();
    const chains: string[] = [];
    const rules: string[] = [];
    const pick = (chain: string, targets: string[]) =>
      targets.forEach((target, i) => {
        const rest = targets.length - i;
        rules.push(
          rest > 1
            ? `-A ${chain} -m statistic --mode random --probability ${(1 / rest).toFixed(11)} -j ${target}`
            : `-A ${chain} -j ${target}`,
        );
      });
    const endpointChains = (chosen: KernelEndpoint[]) =>
      chosen.map((endpoint) => {
        let chain = sep.get(endpoint);
        if (!chain) {
          chain = `BATON-SEP-${sep.size}`;
          sep.set(endpoint, chain);
          chains.push(chain);
          rules.push(`-A ${chain} -p tcp -j DNAT --to-destination ${this.#address(endpoint.pod)}:${endpoint.port}`);
        }
        return chain;
      });
    let entry: string | undefined;
    if (routing.externalTrafficPolicy === 'Cluster') {
      const chosen = usable(endpoints);
      if (chosen.length > 0) {
        entry = 'BATON-SVC';
        chains.push(entry);
        pick(entry, endpointChains(chosen));
      }
    } else if (endpoints.length > 0) {
      const nodeOf = (endpoint: KernelEndpoint) => endpoint.node ?? `node-of-${endpoint.pod}`;
      const nodes = [...new Set(endpoints.map(nodeOf))];
      const lbNodes = (routing.lbNodes ?? nodes).filter((node) => nodes.includes(node));
      entry = 'BATON-LB';
      chains.push(entry, 'BATON-NODE-DROP');
      rules.push(`-A BATON-NODE-DROP -p tcp -j DNAT --to-destination ${BLACKHOLE_ADDRESS}`);
      const nodeChains = (lbNodes.length > 0 ? lbNodes : nodes).map((node, k) => {
        const chain = `BATON-XLB-${k}`;
        chains.push(chain);
        const chosen = usable(endpoints.filter((endpoint) => nodeOf(endpoint) === node));
        if (chosen.length === 0) rules.push(`-A ${chain} -j BATON-NODE-DROP`);
        else pick(chain, endpointChains(chosen));
        return chain;
      });
      pick(entry, nodeChains);
    }
    // The node's nat table holds only this Service: rewritten whole, in one transaction (conntrack keeps the
    // established flows' translations whatever the table says now).
    const nat = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':BATON-SERVICES - [0:0]',
      ...chains.map((chain) => `:${chain} - [0:0]`),
      '-A PREROUTING -j BATON-SERVICES',
      ...(entry ? [`-A BATON-SERVICES -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j ${entry}`] : []),
      ...rules,
      'COMMIT',
      '',
    ];
    run('ip', ['netns', 'exec', this.nodeNamespace, 'iptables-restore'], nat.join('\n'));
    // A Service without endpoints: kube-proxy rejects its connects (ICMP port unreachable), so they fail at once.
    // A chain named in a --noflush restore is flushed and refilled; the rest of the filter table stays.
    const filter = ['*filter', ':BATON-NO-ENDPOINTS - [0:0]'];
    if (!entry) {
      filter.push(`-A BATON-NO-ENDPOINTS -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j REJECT`);
    }
    filter.push('COMMIT', '');
    run('ip', ['netns', 'exec', this.nodeNamespace, 'iptables-restore', '--noflush'], filter.join('\n'));
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
        return run('ip', [
          'netns',
          'exec',
          this.nodeNamespace,
          'conntrack',
          ...args,
          '-p',
          'tcp',
          '--reply-src',
          address,
        ]);
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
      run('ip', [
        'netns',
        'exec',
        this.clientNamespace,
        'ss',
        '-K',
        '-t',
        '-n',
        'dst',
        SERVICE_ADDRESS,
        '(',
        ...chunk,
        ')',
      ]);
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
    for (const namespace of this.#namespaces.reverse()) {
      killProcessesIn(namespace);
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
