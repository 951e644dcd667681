// The client fleet: clients spread over worker processes (one event loop cannot play 20,000 clients and
// still measure them, and one process may hold at most so many descriptors), started together, reported
// together. The probe's release and the lab's runs use this same fleet.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ProbeError, ProbeErrorCodes } from '../errors.js';
import type { ClientRecord } from './client-record.js';
import type { FleetProgress, FleetStart } from './fleet-worker.js';

const workerPath = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));

/** Clients per worker process: 2,500 sockets stay far below a process's descriptor limit and one core's reach. */
export const CLIENTS_PER_WORKER = 2_500;

export interface FleetOptions extends Omit<FleetStart, 'type' | 'count'> {
  clients: number;
  /** Worker processes. Default: one per 2,500 clients, at least one. */
  workers?: number;
  /**
   * Start each worker through this command instead of plain `node` (the lab runs its clients inside a network
   * namespace: `ip netns exec NS node …`). The worker must keep the IPC channel fork() would have opened.
   */
  wrap?: (command: string, args: string[]) => [string, string[]];
}

const ended = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function workerGone(child: ChildProcess, waitingFor: string, cause?: unknown): ProbeError {
  const how = child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode ?? 'unknown'}`;
  return new ProbeError(
    ProbeErrorCodes.FLEET,
    `A client-fleet worker process (pid ${child.pid ?? 'none'}) ended before '${waitingFor}' (${how}): its clients' records are lost. Out of memory? Run fewer clients per machine (--shard).`,
    cause === undefined ? undefined : { cause },
  );
}

/** The worker's next message of `type`; a worker that ended, ends, or could not start rejects (never hangs). */
function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  if (ended(child)) return Promise.reject(workerGone(child, type));
  return new Promise((resolve, reject) => {
    const settle = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMessage = (message: { type: string }) => {
      if (message?.type !== type) return;
      settle();
      resolve(message as T);
    };
    const onExit = () => {
      settle();
      reject(workerGone(child, type));
    };
    // Could not be started (a wrap command that does not exist): no 'exit' may follow.
    const onError = (error: Error) => {
      settle();
      reject(workerGone(child, type, error));
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

/**
 * Send a command and wait for its reply. The send's error (EPIPE from a worker dying) goes to its callback, not
 * to 'error': the answer waits for the worker's 'exit', which says how it ended.
 */
function ask<T>(child: ChildProcess, command: { type: string }, reply: string): Promise<T> {
  const answer = nextMessage<T>(child, reply);
  if (child.connected) child.send(command, () => {});
  // Its 'exit' (already, or soon) rejects the answer.
  return answer;
}

function sumProgress(parts: FleetProgress[]): FleetProgress {
  const total: FleetProgress = {
    clients: 0,
    connected: 0,
    disconnected: [0, 0, 0, 0],
    acceptsByVersion: {},
    failures: 0,
    refusals: 0,
  };
  for (const part of parts) {
    total.clients += part.clients;
    total.connected += part.connected;
    part.disconnected.forEach((n, i) => {
      total.disconnected[i] = (total.disconnected[i] as number) + n;
    });
    for (const [version, n] of Object.entries(part.acceptsByVersion))
      total.acceptsByVersion[version] = (total.acceptsByVersion[version] ?? 0) + n;
    total.failures += part.failures;
    total.refusals += part.refusals;
    if (part.lastError) total.lastError = part.lastError;
  }
  return total;
}

export class Fleet {
  readonly #workers: ChildProcess[] = [];
  #stopped: Promise<void> | undefined;

  static async start(options: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet();
    const workers = options.workers ?? Math.max(1, Math.ceil(options.clients / CLIENTS_PER_WORKER));
    const { clients, workers: _, wrap, ...start } = options;
    let firstClient = start.firstClient ?? 0;
    try {
      for (let i = 0; i < workers; i++) {
        const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
        const child = wrap
          ? spawn(...wrap(process.execPath, [workerPath]), { stdio: [...stdio] })
          : fork(workerPath, [], { stdio: [...stdio] });
        fleet.#workers.push(child);
        // Every send has a callback and every wait listens for 'error': nothing a worker's end does is thrown.
        child.on('error', () => {});
        await nextMessage(child, 'ready');
        const count = Math.floor(clients / workers) + (i < clients % workers ? 1 : 0);
        child.send({ type: 'start', ...start, count, firstClient } satisfies FleetStart, () => {});
        firstClient += count;
      }
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  /** Running counts of the whole fleet (connected, disconnected once / twice / more, accepts per version). */
  async progress(): Promise<FleetProgress> {
    const parts = await Promise.all(
      this.#workers.map((child) =>
        ask<{ progress: FleetProgress }>(child, { type: 'progress' }, 'progress').then((message) => message.progress),
      ),
    );
    return sumProgress(parts);
  }

  /** Clients connected right now. */
  async connected(): Promise<number> {
    return (await this.progress()).connected;
  }

  /** Every client's record, in client order. */
  async report(): Promise<ClientRecord[]> {
    const reports = await Promise.all(
      this.#workers.map((child) => ask<{ records: ClientRecord[] }>(child, { type: 'report' }, 'report')),
    );
    return reports.flatMap((report) => report.records);
  }

  /** Close every client and end every worker; idempotent. A worker that does not end in 5 s is killed. */
  stop(): Promise<void> {
    this.#stopped ??= Promise.all(
      this.#workers.map(async (child) => {
        if (ended(child)) return;
        const exited = once(child, 'exit');
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        if (child.connected) child.send({ type: 'stop' }, () => {});
        else child.kill('SIGKILL');
        await exited;
        clearTimeout(kill);
      }),
    ).then(() => undefined);
    return this.#stopped;
  }
}
