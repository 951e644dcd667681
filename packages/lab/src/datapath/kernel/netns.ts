// Network-namespace plumbing for the kernel data path, in one place: run a command (inside a namespace or
// not), the command line that runs one inside a namespace, list, delete and empty namespaces. Everything
// that says `ip netns …` is here.

import { execFileSync } from 'node:child_process';

/** Run a command to completion; its stdout. Throws on a non-zero exit (with `status`). */
export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/**
 * `command args` run inside a network namespace: `ip netns exec` execs it in place, so the child's pid,
 * signals, pipes and IPC descriptor are the command's own.
 */
export function inNamespace(namespace: string, command: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', namespace, command, ...args]];
}

/** Run a command to completion inside a namespace; its stdout. */
export function runIn(namespace: string, command: string, args: string[], input?: string): string {
  return run(...inNamespace(namespace, command, args), input);
}

/** The names of this host's network namespaces. */
export function namespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

export function addNamespace(name: string): void {
  run('ip', ['netns', 'add', name]);
}

/** Kill whatever still runs inside a namespace (a pod whose lab was killed), so deleting it frees it. */
export function killProcessesIn(namespace: string): void {
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

/** Empty a namespace and delete it (with its veth ends and its rules). Quiet when it is already gone. */
export function removeNamespace(name: string): void {
  killProcessesIn(name);
  try {
    run('ip', ['netns', 'delete', name]);
  } catch {
    // Already gone.
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
