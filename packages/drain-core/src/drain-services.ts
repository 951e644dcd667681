// What a started controller runs besides the drain itself: the signal handlers that trigger it, the
// Prometheus metrics that read its counters, and the admin server. start() and release() are idempotent.

import type { AddressInfo } from 'node:net';
import { AdminServer, type AdminTarget } from './admin-server.js';
import { createDrainMetrics, type DrainCounters, type DrainMetrics } from './metrics.js';
import type { ResolvedDrainOptions } from './options.js';

export interface ServicesTarget extends Omit<AdminTarget, 'metricsRegistry'> {
  counters(): DrainCounters;
  onSignal(): void;
}

export class DrainServices {
  readonly #options: ResolvedDrainOptions;
  readonly #target: ServicesTarget;
  readonly #signalHandler: () => void;
  #admin: AdminServer | undefined;
  #metrics: DrainMetrics | undefined;
  #started: Promise<void> | undefined;
  #released: Promise<void> | undefined;

  constructor(options: ResolvedDrainOptions, target: ServicesTarget) {
    this.#options = options;
    this.#target = target;
    this.#signalHandler = () => target.onSignal();
  }

  /** Resolves once the admin server listens (when configured). */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const { signals, metrics, admin, logger } = this.#options;
    for (const signal of signals) process.on(signal, this.#signalHandler);
    if (metrics) {
      this.#metrics = await createDrainMetrics(() => this.#target.counters(), metrics.registry);
      if (!this.#metrics && metrics.registry !== undefined) {
        logger.warn({}, 'baton: metrics.registry given but prom-client could not be imported');
      }
    }
    if (!admin) return;
    this.#admin = new AdminServer({
      ...admin,
      logger,
      target: { ...this.#target, metricsRegistry: () => this.#metrics?.registry },
    });
    try {
      const address = await this.#admin.listen();
      logger.info({ address: address.address, port: address.port }, 'baton: admin server listening');
    } catch (error) {
      this.#removeSignalHandlers();
      throw error;
    }
  }

  adminAddress(): AddressInfo | undefined {
    return this.#admin?.address();
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      this.#removeSignalHandlers();
      this.#metrics?.unregister();
      await this.#admin?.close();
    })();
    return this.#released;
  }

  #removeSignalHandlers(): void {
    for (const signal of this.#options.signals) process.off(signal, this.#signalHandler);
  }
}
