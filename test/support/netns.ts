// Two network namespaces joined by a veth pair, for tests that need a peer that is not loopback. Their
// addresses (10.213.0.1 and .2) live only inside the two namespaces; the namespaces are removed after the
// test, and leftovers of a crashed run (same prefix) before it.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { addNamespace, inNamespace, namespaces, removeNamespace } from '../../packages/lab/src/harness/index.js';

const PREFIX = 'baton-t';

export interface NamespacePair {
  server: string;
  client: string;
  serverAddress: string;
  /** Run `node args` inside a namespace. */
  node(namespace: string, args: string[], env?: Record<string, string>): ChildProcess;
  remove(): void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this machine lets us create namespaces (root, iproute2). */
export function namespacesAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    namespaces();
    return true;
  } catch {
    return false;
  }
}

export function removeLeftovers(): void {
  for (const name of namespaces()) if (name.startsWith(PREFIX)) removeNamespace(name);
}

export function createNamespacePair(): NamespacePair {
  removeLeftovers();
  const id = `${PREFIX}${process.pid % 100000}`;
  const server = `${id}s`;
  const client = `${id}c`;
  addNamespace(server);
  addNamespace(client);
  const pair: NamespacePair = {
    server,
    client,
    serverAddress: '10.213.0.1',
    node: (namespace, args, env = {}) =>
      spawn(...inNamespace(namespace, process.execPath, args), {
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    remove() {
      for (const name of [server, client]) removeNamespace(name);
    },
  };
  try {
    // The veth is created inside the server namespace, its peer moved to the client's: nothing in the root one.
    ip('-n', server, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', client);
    ip('-n', server, 'addr', 'add', '10.213.0.1/30', 'dev', 'v0');
    ip('-n', client, 'addr', 'add', '10.213.0.2/30', 'dev', 'v1');
    for (const [ns, dev] of [
      [server, 'v0'],
      [client, 'v1'],
    ] as const) {
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    pair.remove();
    throw error;
  }
  return pair;
}
