// The kernel dataplane's semantics, on this machine's kernel: network namespaces, iptables rules written as
// kube-proxy writes them, conntrack. Skipped where root, iproute2, iptables or conntrack is missing (.ci/run
// installs iptables and conntrack).

import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { requireTool } from '../../../test/support/require-tool.js';
import {
  BLACKHOLE_ADDRESS,
  KernelDataplane,
  SERVICE_ADDRESS,
  SERVICE_PORT,
} from '../src/datapath/kernel/kernel-dataplane.js';
import { inNamespace } from '../src/datapath/kernel/netns.js';

const available = requireTool('the kernel data path (root, ip, iptables, conntrack)', () =>
  KernelDataplane.available(),
);
const flowClient = fileURLToPath(new URL('./fixtures/flow-client.cjs', import.meta.url));
const ECHO = `
const name = process.env.POD;
require('node:net').createServer((socket) => socket.on('error', () => {}).on('data', (data) => socket.write(name + ':' + data)))
  .listen(8080, '0.0.0.0', () => process.send({ type: 'listening' }));
`;

let dataplane: KernelDataplane | undefined;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  dataplane?.destroy();
  dataplane = undefined;
});

type Message = { type: string; id?: number; data?: string; code?: string };

function next(child: ChildProcess, predicate: (message: Message) => boolean): Promise<Message> {
  return new Promise((resolve) => {
    const onMessage = (message: Message) => {
      if (!predicate(message)) return;
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
  });
}

async function setUp(pods: string[]) {
  const plane = new KernelDataplane();
  dataplane = plane;
  for (const pod of pods) {
    const { namespace } = plane.addPod(pod);
    const server = plane.node(namespace, ['-e', ECHO], { POD: pod });
    children.push(server);
    await next(server, (m) => m.type === 'listening');
  }
  const client = plane.node(plane.clientNamespace, [flowClient]);
  children.push(client);
  await next(client, (m) => m.type === 'ready');
  let ids = 0;
  /** Open a flow to the Service; resolves with its id once connected. */
  const open = async () => {
    const id = ++ids;
    client.send({ type: 'open', id, host: SERVICE_ADDRESS, port: SERVICE_PORT });
    const result = await next(client, (m) => m.id === id && (m.type === 'opened' || m.type === 'error'));
    if (result.type === 'error') throw new Error(`connect failed: ${result.code}`);
    return id;
  };
  /** Which pod answers on flow `id` (or the error the flow got). */
  const ping = async (id: number) => {
    client.send({ type: 'ping', id, text: 'ping' });
    const answer = await next(client, (m) => m.id === id && (m.type === 'reply' || m.type === 'error'));
    return answer.type === 'reply' ? String(answer.data).split(':')[0] : `error ${answer.code}`;
  };
  /** Resolves with the error code flow `id` gets (listening from now on). */
  const failure = (id: number) => next(client, (m) => m.id === id && m.type === 'error').then((m) => m.code);
  return { plane, open, ping, failure };
}

describe.skipIf(!available)('kernel dataplane (namespaces, kube-proxy-style iptables, conntrack)', () => {
  it('spreads new flows over the serving endpoints with the statistic rules', async () => {
    const { plane, open, ping } = await setUp(['a', 'b']);
    plane.apply([
      { pod: 'a', port: 8080, ready: true, terminating: false },
      { pod: 'b', port: 8080, ready: true, terminating: false },
    ]);
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const pod = await ping(await open());
      seen.set(pod, (seen.get(pod) ?? 0) + 1);
    }
    // Both reached; each with probability 1/2 per flow (a 40-flow run misses one with p = 2^-39).
    expect([...seen.keys()].sort()).toEqual(['a', 'b']);
    expect((await plane.flows()).get('a')).toBe(seen.get('a'));
  });

  it("kube-proxy semantics: a removed endpoint's established flows survive; new flows never reach a terminating endpoint while one serves", async () => {
    const { plane, open, ping } = await setUp(['a', 'b']);
    plane.apply([{ pod: 'a', port: 8080, ready: true, terminating: false }]);
    const established = await open();
    expect(await ping(established)).toBe('a');
    // a terminates (its endpoint terminating, b serving): the rules change, conntrack keeps the flow.
    plane.apply([
      { pod: 'a', port: 8080, ready: true, terminating: true },
      { pod: 'b', port: 8080, ready: true, terminating: false },
    ]);
    for (let i = 0; i < 20; i++) expect(await ping(await open())).toBe('b');
    expect(await ping(established)).toBe('a');
    // a removed from the Service altogether: still the same on kube-proxy.
    plane.apply([{ pod: 'b', port: 8080, ready: true, terminating: false }]);
    expect(await ping(established)).toBe('a');
    // With only terminating endpoints left (Kubernetes ≥ 1.26), new flows go to them rather than nowhere.
    plane.apply([{ pod: 'a', port: 8080, ready: true, terminating: true }]);
    expect(await ping(await open())).toBe('a');
  });

  it("Dataplane V2 model: a removed backend's established flows are reset", async () => {
    const { plane, open, ping, failure } = await setUp(['a', 'b']);
    plane.apply([{ pod: 'a', port: 8080, ready: true, terminating: false }]);
    const established = await open();
    expect(await ping(established)).toBe('a');
    plane.apply([{ pod: 'b', port: 8080, ready: true, terminating: false }]);
    // The client is told at once, without sending anything (a listening WebSocket client sends nothing).
    const failed = failure(established);
    expect(plane.resetFlowsOf('a')).toBe(1);
    expect(await failed).toBe('ECONNABORTED');
    expect(await ping(await open())).toBe('b');
  });

  it('externalTrafficPolicy Local: the cloud LB sends only to the nodes it sees healthy, and each node only to its own endpoints', async () => {
    const { plane, open, ping } = await setUp(['a', 'b']);
    const endpoints = [
      { pod: 'a', port: 8080, ready: true, terminating: false, node: 'n1' },
      { pod: 'b', port: 8080, ready: true, terminating: false, node: 'n2' },
    ];
    const local = { externalTrafficPolicy: 'Local', proxyTerminatingEndpoints: true } as const;
    plane.apply(endpoints, { ...local, lbNodes: ['n2'] });
    for (let i = 0; i < 20; i++) expect(await ping(await open())).toBe('b');
    plane.apply(endpoints, { ...local, lbNodes: ['n1'] });
    for (let i = 0; i < 20; i++) expect(await ping(await open())).toBe('a');
  });

  it('Local before Kubernetes 1.26: a node whose local endpoints all terminate drops the SYN (the client hears nothing)', async () => {
    const { plane, open, ping } = await setUp(['a', 'b']);
    const endpoints = [
      { pod: 'a', port: 8080, ready: true, terminating: true, node: 'n1' },
      { pod: 'b', port: 8080, ready: true, terminating: false, node: 'n2' },
    ];
    // The LB has not noticed yet that n1 fails its health check: it still sends there.
    plane.apply(endpoints, { externalTrafficPolicy: 'Local', proxyTerminatingEndpoints: false, lbNodes: ['n1'] });
    let settled = false;
    void open().then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    const unanswered = () =>
      execFileSync(
        ...inNamespace(plane.nodeNamespace, 'conntrack', ['-L', '-p', 'tcp', '--reply-src', BLACKHOLE_ADDRESS]),
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
    // The kernel announces nothing here: re-read its conntrack table until the flow shows up (bounded).
    for (let i = 0; i < 100 && !unanswered().includes('SYN_SENT'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(unanswered()).toMatch(/SYN_SENT .*\[UNREPLIED\]/);
    expect(settled).toBe(false);
    // Kubernetes ≥ 1.26: the same node sends new flows to its terminating endpoint that still serves.
    plane.apply(endpoints, { externalTrafficPolicy: 'Local', proxyTerminatingEndpoints: true, lbNodes: ['n1'] });
    expect(await ping(await open())).toBe('a');
  });

  it("leaves nothing behind: its namespaces go with destroy(), and a dead process's leftovers before a new one", async () => {
    const { plane } = await setUp(['a']);
    const names = () =>
      execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.split(' ')[0])
        .filter((name) => name?.startsWith(KernelDataplane.prefixOfThisProcess()));
    expect(names().length).toBe(4); // node, clients, blackhole, pod a
    for (const child of children.splice(0)) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    plane.destroy();
    expect(names()).toEqual([]);
    // A leftover of a process that is gone (pid 2^22 + 1 never exists: above pid_max's largest value).
    const stale = `baton-k${2 ** 22 + 1}-0n`;
    execFileSync('ip', ['netns', 'add', stale]);
    expect(KernelDataplane.removeLeftovers()).toContain(stale);
  });
});
