// The process of a lab pod (LabPod.process in cluster/release.ts): a real example gateway started by the
// harness, as the tests start theirs, with the times the lab reports: when it was deleted and when it exited.

import type { Placement } from '../datapath/lab-balancer.js';
import { type GatewayExit, type GatewayProcess, type LogLine, startGateway } from '../harness/gateway-launcher.js';

export type { LogLine } from '../harness/gateway-launcher.js';

export class PodProcess {
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
  ): Promise<PodProcess> {
    const process = await startGateway(script, { APP_VERSION: version, ...env }, { stderr: 'inherit', placement });
    return new PodProcess(name, version, process);
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
