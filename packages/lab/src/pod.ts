// A gateway pod of the lab: a real process of an example gateway, its JSON log lines, its exit.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface LogLine {
  msg: string;
  time: number;
  [key: string]: unknown;
}

export class Pod {
  readonly lines: LogLine[] = [];
  port = 0;
  deletedAt = 0;
  exitedAt = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readonly #listening: Promise<void>;

  private constructor(
    readonly name: string,
    readonly version: string,
    readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit').then(([code, signal]) => {
      this.exitedAt = Date.now();
      return { code, signal, at: this.exitedAt };
    });
    this.#listening = new Promise((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
        let line: LogLine;
        try {
          line = JSON.parse(text);
        } catch {
          return;
        }
        this.lines.push(line);
        if (line.msg === 'listening') {
          this.port = line.port as number;
          resolve();
        }
      });
      void this.exited.then(({ code }) => reject(new Error(`pod ${name} exited (${code}) before listening`)));
    });
  }

  static async start(name: string, script: string, version: string, env: Record<string, string>): Promise<Pod> {
    const child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        ADMIN_HOST: '127.0.0.1',
        PORT: '0',
        ADMIN_PORT: '0',
        APP_VERSION: version,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pod = new Pod(name, version, child);
    await pod.#listening;
    return pod;
  }

  /** What the kubelet does when the pod is deleted: SIGTERM (the preStop GET is the same trigger for Baton). */
  terminate(): void {
    this.deletedAt = Date.now();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  /** SIGKILL, as at the end of the grace period. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
