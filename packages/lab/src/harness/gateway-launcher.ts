// One way to start an example gateway as a real child process, shared by the lab's pods and the end-to-end
// tests: spawn it on loopback with an environment, read its JSON log lines, wait on them as events (never on
// sleeps), and stop it. Also the one helper that turns a compressed drain budget into the gateway's BATON_*
// environment, checked by drain-core's own budget rule first.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { type DrainBudgetInput, drainEnvFrom, resolveDrainBudget } from '@baton/drain-core';
import { inNamespace } from '../datapath/kernel/netns.js';
import type { Placement } from '../datapath/lab-balancer.js';

export interface LogLine {
  msg: string;
  time: number;
  level?: string;
  [key: string]: unknown;
}

export interface GatewayExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly adminUrl: string;
  readonly lines: LogLine[];
  readonly exited: Promise<GatewayExit>;
  /** Resolves with the first log line (past or future) matching `predicate`; rejects after timeoutMs or on exit. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, what the kubelet sends when the pod is deleted. */
  terminate(): void;
  /** SIGKILL (the end of the grace period, or a test's clean-up); resolves once exited. */
  stop(): Promise<void>;
}

export interface StartGatewayOptions {
  /** 'pipe' keeps the last 4 KB and quotes it when a wait fails; 'inherit' passes it through. Default 'pipe'. */
  stderr?: 'pipe' | 'inherit';
  listenTimeoutMs?: number;
  /**
   * Where it runs and serves (the lab's data paths place their pods): its network namespace, the address it
   * listens on and its `url` names, and its port (0: ephemeral). Default: this process's namespace, 127.0.0.1,
   * an ephemeral port.
   */
  placement?: Placement;
}

/**
 * Start `script` with `env` over this process's environment, on 127.0.0.1 with ephemeral ports unless
 * `options.placement` says otherwise; resolves once it logs 'listening'.
 */
export async function startGateway(
  script: string,
  env: Record<string, string>,
  options: StartGatewayOptions = {},
): Promise<GatewayProcess> {
  const { namespace, host, port: listenPort } = options.placement ?? { host: '127.0.0.1', port: 0 };
  const [command, args] = namespace ? inNamespace(namespace, process.execPath, [script]) : [process.execPath, [script]];
  const child = spawn(command, args, {
    env: {
      ...process.env,
      HOST: host,
      ADMIN_HOST: '127.0.0.1',
      PORT: String(listenPort),
      ADMIN_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', options.stderr ?? 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.predicate(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited: Promise<GatewayExit> = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    at: Date.now(),
  }));

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> => {
    const seen = lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      // A bound on a wait for an event, not a sleep: a gateway that never logs the line fails the caller.
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`gateway log line not seen within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then(() => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`gateway exited before the log line; stderr: ${stderr}`));
      });
    });
  };

  const listening = await waitForLog((line) => line.msg === 'listening', options.listenTimeoutMs);
  const port = listening.port as number;
  const adminPort = listening.adminPort as number;
  return {
    child,
    port,
    adminPort,
    url: `ws://${host}:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    lines,
    exited,
    waitForLog,
    terminate() {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * The BATON_* environment of a (compressed) drain budget, written by drain-core's own contract writer, after
 * checking it with drain-core's own rule: an impossible budget throws here, with drain-core's message,
 * instead of failing a start-up.
 */
export function budgetEnv(budget: DrainBudgetInput & { gracePeriodMs: number }): Record<string, string> {
  const resolved = resolveDrainBudget(budget);
  return drainEnvFrom({
    gracePeriodMs: resolved.gracePeriodMs,
    propagationDelayMs: resolved.propagationDelayMs,
    closeTimeoutMs: resolved.closeTimeoutMs,
    safetyMarginMs: resolved.safetyMarginMs,
    ...(resolved.drainWindowDerived ? {} : { drainWindowMs: resolved.drainWindowMs }),
  });
}
