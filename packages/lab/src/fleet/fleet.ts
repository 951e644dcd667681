// The client fleet: clients spread over worker processes (one event loop cannot play 20,000 clients and
// still measure them), started together, reported together.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { inNamespace } from '../datapath/kernel/netns.js';
import type { ClientRecord, FleetStart } from './fleet-worker.js';

export type { ClientRecord } from './fleet-worker.js';

const workerPath = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));

export interface FleetOptions extends Omit<FleetStart, 'type' | 'count'> {
  clients: number;
  /** Worker processes. Default: one per 2,500 clients, at least one. */
  workers?: number;
  /** Run the workers inside this network namespace (the kernel data path's clients). Default: this one. */
  namespace?: string;
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => reject(new Error(`fleet worker exited (${code}) before '${type}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export class Fleet {
  readonly #workers: ChildProcess[] = [];

  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet();
    const workers = options.workers ?? Math.max(1, Math.ceil(options.clients / 2500));
    const { clients, workers: _, namespace, ...start } = options;
    for (let i = 0; i < workers; i++) {
      const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
      // In a namespace, node keeps the IPC descriptor fork() would have passed (see inNamespace).
      const child = namespace
        ? spawn(...inNamespace(namespace, process.execPath, [workerPath]), { stdio: [...stdio] })
        : fork(workerPath, [], { stdio: [...stdio] });
      fleet.#workers.push(child);
      await nextMessage(child, 'ready');
      const count = Math.floor(clients / workers) + (i < clients % workers ? 1 : 0);
      child.send({ type: 'start', count, ...start } satisfies FleetStart);
    }
    return fleet;
  }

  /** Clients connected right now (cheap: a count per worker, not every record). */
  async connected(): Promise<number> {
    const counts = await Promise.all(
      this.#workers.map((child) => {
        const reply = nextMessage<{ count: number }>(child, 'connected');
        child.send({ type: 'connected' });
        return reply;
      }),
    );
    return counts.reduce((sum, reply) => sum + reply.count, 0);
  }

  async report(): Promise<ClientRecord[]> {
    const reports = await Promise.all(
      this.#workers.map((child) => {
        const reply = nextMessage<{ records: ClientRecord[] }>(child, 'report');
        child.send({ type: 'report' });
        return reply;
      }),
    );
    return reports.flatMap((report) => report.records);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ type: 'stop' });
        await exited;
      }),
    );
  }
}
