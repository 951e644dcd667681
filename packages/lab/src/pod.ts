// A gateway pod of the lab: a real process of an example gateway (started by gateway-launcher.ts, as the
// tests start theirs), with the times the lab reports: when it was deleted and when it exited.

import { type GatewayExit, type GatewayProcess, type LogLine, startGateway } from './gateway-launcher.js';
import type { Placement } from './lab-balancer.js';

export type { LogLine } from './gateway-launcher.js';

export class Pod {
  deletedAt = 0;
  exitedAt = 0;
  readonly exited: Promise<GatewayExit>;

  private constructor(
    readonly name: string,
    readonly version: string,
    readonly process: GatewayProcess,
  ) {
    this.exited = process.exited.then((exit) => {
      this.exitedAt = exit.at;
      return exit;
    });
  }

  /** Start the pod's process where the data path placed it (its namespace, address and port). */
  static async start(
    name: string,
    script: string,
    version: string,
    env: Record<string, string>,
    placement: Placement,
  ): Promise<Pod> {
    const process = await startGateway(script, { APP_VERSION: version, ...env }, { stderr: 'inherit', placement });
    return new Pod(name, version, process);
  }

  get port(): number {
    return this.process.port;
  }

  get lines(): LogLine[] {
    return this.process.lines;
  }

  /** What the kubelet does when the pod is deleted: SIGTERM (the preStop GET is the same trigger for Baton). */
  terminate(): void {
    this.deletedAt = Date.now();
    this.process.terminate();
  }

  /** SIGKILL, as at the end of the grace period. */
  async kill(): Promise<void> {
    await this.process.stop();
    await this.exited;
  }
}
