// The kernel data path leaves nothing behind: a lab run (the real CLI, a child process) stopped with Ctrl-C or
// killed outright must take its network namespaces, the processes in them and its rules with it. The rules live
// only inside the lab's own node namespace; the host's NAT table is checked never to carry any of them.
// Skipped where the kernel data path cannot run (root, iproute2, iptables, conntrack).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../../../test/support/require-tool.js';
import { KernelBalancer } from '../dist/datapath/kernel/kernel-balancer.js';

const available = requireTool('the kernel data path (root, ip, ss, iptables, conntrack)', () =>
  KernelBalancer.available(),
);
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function namespacesOf(pid: number): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`baton-k${pid}-`));
}

function pidsIn(namespace: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Running (a zombie waiting for its reaper counts as exited). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Wait for a state of the kernel (it announces none to us): re-checked every 50 ms, bounded. */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The host namespace's NAT rules (iptables-save's dated comment lines left out). */
function hostNatRules(): string {
  return execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
}

/** Start a lab run on the kernel data path; resolve once its pods run inside their namespaces. */
async function labRunning(): Promise<{ child: ChildProcess; pid: number; inside: number[] }> {
  const child = spawn(
    process.execPath,
    [
      cli,
      '--clients',
      '50',
      '--time-scale',
      '0.05',
      '--only',
      'Baton, maxSurge 100%, no hold',
      '--dataplane',
      'kernel',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = child.pid as number;
  // Pod namespaces end in p<name>, the node's in n: wait until four of them hold a running gateway and the
  // node its conntrack -E. One reading of all of them, retried until it shows every one: `ip netns pids` scans
  // /proc while the lab starts and ends short-lived commands, and a single scan once came back one short
  // (4 processes) in CI.
  let inside: number[] = [];
  const running = () => {
    const held = namespacesOf(pid).map((name) => ({ name, pids: pidsIn(name) }));
    const pods = held.filter(({ name, pids }) => /-\dp\w+$/.test(name) && pids.length > 0).length;
    const node = held.some(({ name, pids }) => /-\dn$/.test(name) && pids.length > 0);
    inside = held.flatMap(({ pids }) => pids);
    return pods >= 4 && node;
  };
  await until(running, 'the lab runs four pods and its conntrack watcher in namespaces of their own');
  return { child, pid, inside };
}

describe.skipIf(!available)('kernel data path clean-up', () => {
  it('Ctrl-C: the namespaces are gone when the lab has exited, and the processes in them are killed', async () => {
    const natBefore = hostNatRules();
    const { child, pid, inside } = await labRunning();
    expect(inside.length).toBeGreaterThanOrEqual(5); // four gateways, conntrack -E, fleet workers
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    await exited;
    expect(namespacesOf(pid)).toEqual([]);
    await until(() => inside.every((p) => !alive(p)), 'every process of the lab namespaces has exited');
    expect(hostNatRules()).toBe(natBefore);
    expect(hostNatRules()).not.toContain('BATON');
  });

  it('SIGKILL: the watchdog removes the namespaces and kills what ran in them', async () => {
    const { child, pid, inside } = await labRunning();
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    await until(() => namespacesOf(pid).length === 0, 'the killed lab has no namespace left');
    await until(() => inside.every((p) => !alive(p)), 'every process of the lab namespaces has exited');
    expect(hostNatRules()).not.toContain('BATON');
  });
});
