// @baton/fastify-plugin: everything @baton/drain-core gives a ws gateway, for @fastify/websocket. It attaches
// a DrainController to fastify.websocketServer, serves the admin endpoints on their own listener, turns a
// SIGTERM or preStop drain into fastify.close() once drained, and exposes resumed sessions on the request.
//
// @fastify/websocket runs its preClose before any plugin registered after it, and its default closes every
// client at once with no code. Pass `batonPreClose` as its preClose so fastify.close() drains instead.

import {
  BatonError,
  CLOSE_CODE_SERVICE_RESTART,
  codedError,
  DrainController,
  type DrainOptions,
  type DrainReport,
  ErrorCodes,
  type ResumeResult,
} from '@baton/drain-core';
import type { WebsocketPluginOptions } from '@fastify/websocket';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

export interface BatonPluginOptions extends DrainOptions {
  /**
   * After a drain started by SIGTERM or the preStop hook: call fastify.close() once drained. Default true.
   * (A drain started by fastify.close() itself needs no second close.)
   */
  closeFastifyWhenDrained?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The DrainController behind @baton/fastify-plugin. */
    baton: DrainController;
  }
  interface FastifyRequest {
    /** On a websocket route: what became of the offered resume token (see @baton/drain-core resumeOf). */
    readonly batonResume: ResumeResult;
  }
}

/**
 * What the plugin and batonPreClose share about one fastify instance, keyed by its DrainController (the
 * `baton` decorator): the window a drain started by fastify.close() gets, and whether batonPreClose ran.
 */
const closeStates = new WeakMap<DrainController, { closeWindowMs: number; preCloseRan: boolean }>();
/** Kept free between the drain's worst case and fastify's pluginTimeout (timers fire late, hooks run after). */
const PLUGIN_TIMEOUT_MARGIN_MS = 500;

/**
 * fastify runs every preClose hook under its `pluginTimeout` (default 10 s) and rejects close() with
 * AVV_ERR_READY_TIMEOUT past it. The drain fastify.close() runs (no propagation delay: fastify already refuses
 * new requests) must end inside it: its window is the budget's, shortened when the window and the close
 * timeout would not fit. 0 (no timeout) leaves the budget's window.
 */
function closeWindowMs(pluginTimeoutMs: number, budget: { drainWindowMs: number; closeTimeoutMs: number }): number {
  if (!(pluginTimeoutMs > 0)) return budget.drainWindowMs;
  return Math.max(
    0,
    Math.min(budget.drainWindowMs, pluginTimeoutMs - budget.closeTimeoutMs - PLUGIN_TIMEOUT_MARGIN_MS),
  );
}

function invalidOption(message: string): TypeError {
  return codedError(TypeError, ErrorCodes.INVALID_OPTION, message);
}

const batonPlugin: FastifyPluginAsync<BatonPluginOptions> = async (fastify, options) => {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('@baton/fastify-plugin options must be an object.');
  }
  const wss = (fastify as FastifyInstance & { websocketServer?: unknown }).websocketServer;
  if (!wss) {
    throw new BatonError(ErrorCodes.INVALID_SERVER, 'Register @fastify/websocket before @baton/fastify-plugin.');
  }
  const { closeFastifyWhenDrained = true, beforeExit, ...drainOptions } = options;
  if (typeof closeFastifyWhenDrained !== 'boolean') {
    throw invalidOption('The "closeFastifyWhenDrained" option must be true or false.');
  }
  if (beforeExit !== undefined && typeof beforeExit !== 'function') {
    throw invalidOption('The "beforeExit" option must be a function.');
  }
  // fastify.close() waits for every HTTP request in flight, and a half-sent one never finishes: at the
  // budget's end (grace period less the safety margin) the remaining HTTP connections are closed.
  let closing: Promise<void> | undefined;
  const closeWithinBudget = (report: DrainReport): Promise<void> => {
    closing ??= (async () => {
      const { gracePeriodMs, safetyMarginMs } = drain.budget;
      const cutAt = report.startedAt + gracePeriodMs - safetyMarginMs;
      const closed = fastify.close().then(
        () => 'closed' as const,
        (error: unknown) => {
          fastify.log.error({ err: error }, 'baton: fastify.close() failed after the drain');
          return 'closed' as const;
        },
      );
      const cut = new Promise<'cut'>((resolve) =>
        setTimeout(() => resolve('cut'), Math.max(0, cutAt - Date.now())).unref(),
      );
      if ((await Promise.race([closed, cut])) === 'cut') {
        fastify.log.warn(
          { budgetMs: gracePeriodMs - safetyMarginMs },
          'baton: fastify.close() did not finish inside the budget; closing its remaining HTTP connections',
        );
        fastify.server.closeAllConnections();
      }
    })();
    return closing;
  };
  // drain-core validates everything else (with its coded errors) here, at registration, and owns the exit
  // policy: only a drain of a pod being deleted ends the process, after fastify's own close.
  const drain = new DrainController({
    logger: fastify.log,
    ...drainOptions,
    beforeExit: async (report) => {
      // A drain that fastify.close() itself started needs no second close.
      if (closeFastifyWhenDrained && report.trigger !== 'api') await closeWithinBudget(report);
      await beforeExit?.(report);
    },
  });
  drain.attach(wss);
  fastify.decorate('baton', drain);
  const pluginTimeoutMs = fastify.initialConfig.pluginTimeout ?? 10_000;
  const windowOnCloseMs = closeWindowMs(pluginTimeoutMs, drain.budget);
  const closeState = { closeWindowMs: windowOnCloseMs, preCloseRan: false };
  closeStates.set(drain, closeState);
  if (windowOnCloseMs < drain.budget.drainWindowMs) {
    const neededMs = drain.budget.drainWindowMs + drain.budget.closeTimeoutMs + PLUGIN_TIMEOUT_MARGIN_MS;
    fastify.log.warn(
      { pluginTimeoutMs, drainWindowMs: drain.budget.drainWindowMs, windowOnCloseMs },
      `baton: fastify's pluginTimeout (${pluginTimeoutMs} ms) is shorter than the drain fastify.close() would run (window + closeTimeoutMs = ${neededMs - PLUGIN_TIMEOUT_MARGIN_MS} ms); ` +
        `a drain started by fastify.close() spreads its closes over ${windowOnCloseMs} ms instead. Set Fastify({ pluginTimeout: ${neededMs} }) (or 0) for the full window. SIGTERM and preStop drains are not affected.`,
    );
  }
  fastify.decorateRequest('batonResume', {
    getter(this: { raw: Parameters<DrainController['resumeOf']>[0] }) {
      return drain.resumeOf(this.raw);
    },
  });

  // A terminating drain the pod started (SIGTERM, preStop) ends with fastify's own shutdown, whether or not
  // the process then exits (exitAfterDrain). A manual drain leaves fastify serving: it can be cancelled.
  drain.on('drained', (report: DrainReport) => {
    if (!report.terminating || report.forced || report.trigger === 'api' || !closeFastifyWhenDrained) return;
    void closeWithinBudget(report);
  });

  fastify.addHook('onReady', async () => {
    await drain.start();
  });
  // A safety net after @fastify/websocket's own preClose: if batonPreClose was not passed to it, its default
  // already closed every client at once; say so, and drain whatever is left.
  fastify.addHook('preClose', async () => {
    if (!closeState.preCloseRan) {
      fastify.log.warn(
        "baton: @fastify/websocket's default preClose ran (it closes every client at once, without a code); register it with { preClose: batonPreClose }",
      );
      void drain.drain({ trigger: 'api', skipPropagationDelay: true, drainWindowMs: windowOnCloseMs });
      await drain.close();
    }
  });
  fastify.addHook('onClose', async () => {
    await drain.close();
  });
};

/**
 * Pass as @fastify/websocket's preClose: fastify.close() then drains the connections (paced, 1012, inside the
 * budget) before the server closes, instead of closing them all at once.
 *
 *   await app.register(websocket, { preClose: batonPreClose });
 *   await app.register(baton, { gracePeriodMs: 60_000, admin: { port: 9090 } });
 */
export const batonPreClose: NonNullable<WebsocketPluginOptions['preClose']> = function batonPreClose(
  this: FastifyInstance,
  done: (error?: Error) => void,
) {
  const finish = () => this.websocketServer.close(() => done());
  if (!this.hasDecorator('baton')) {
    // Registered without the Baton plugin: close everyone with a code at least, as a server restart.
    for (const client of this.websocketServer.clients) client.close(CLOSE_CODE_SERVICE_RESTART, 'server restarting');
    return finish();
  }
  const state = closeStates.get(this.baton);
  if (state) state.preCloseRan = true;
  // fastify already refuses new requests and upgrades: no propagation delay, and a window that fits fastify's
  // pluginTimeout. A drain already started (SIGTERM, preStop) keeps its own timers.
  void this.baton.drain({ trigger: 'api', skipPropagationDelay: true, drainWindowMs: state?.closeWindowMs });
  this.baton.close().then(finish, (error: unknown) => done(error as Error));
};

export const batonFastifyPlugin = fp(batonPlugin, {
  fastify: '5.x',
  name: '@baton/fastify-plugin',
  dependencies: ['@fastify/websocket'],
});

export default batonFastifyPlugin;
