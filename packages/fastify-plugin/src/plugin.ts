// @baton/fastify-plugin: everything @baton/drain-core gives a ws gateway, for @fastify/websocket. It attaches
// a DrainController to fastify.websocketServer, serves the admin endpoints on their own listener, turns a
// SIGTERM or preStop drain into fastify.close() once drained, and exposes resumed sessions on the request.
//
// @fastify/websocket runs its preClose before any plugin registered after it, and its default closes every
// client at once with no code. Pass `batonPreClose` as its preClose so fastify.close() drains instead.

import {
  BatonError,
  DrainController,
  type DrainOptions,
  type DrainReport,
  ErrorCodes,
  type ExitAfterDrain,
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

const kPreCloseRan = Symbol('baton.preCloseRan');

const batonPlugin: FastifyPluginAsync<BatonPluginOptions> = async (fastify, options) => {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('@baton/fastify-plugin options must be an object.');
  }
  const wss = (fastify as FastifyInstance & { websocketServer?: unknown }).websocketServer;
  if (!wss) {
    throw new BatonError(ErrorCodes.INVALID_SERVER, 'Register @fastify/websocket before @baton/fastify-plugin.');
  }
  const { closeFastifyWhenDrained = true, exitAfterDrain = 'on-signal', ...drainOptions } = options;
  if (typeof closeFastifyWhenDrained !== 'boolean') {
    throw new TypeError('The "closeFastifyWhenDrained" option must be true or false.');
  }
  // drain-core validates everything else (with its coded errors) here, at registration.
  const drain = new DrainController({ logger: fastify.log, ...drainOptions, exitAfterDrain: 'never' });
  const exitMode = exitAfterDrain as ExitAfterDrain;
  drain.attach(wss as never);
  fastify.decorate('baton', drain);
  fastify.decorateRequest('batonResume', {
    getter(this: { raw: Parameters<DrainController['resumeOf']>[0] }) {
      return drain.resumeOf(this.raw);
    },
  });

  // 'drained' fires once per controller.
  drain.on('drained', (report: DrainReport) => {
    if (report.forced || report.trigger === 'api') return;
    // A drain the pod started (SIGTERM, preStop) ends with fastify's own shutdown, then the process exit
    // that SIGTERM would have caused.
    const shouldExit = exitMode === 'always' || (exitMode === 'on-signal' && report.signalled);
    if (!closeFastifyWhenDrained && !shouldExit) return;
    // fastify.close() waits for every HTTP request in flight, and a half-sent one never finishes: the drain
    // must still end before SIGKILL. At the budget's end (grace period less the safety margin) the remaining
    // HTTP connections are closed, and the process exits whatever close() is still waiting for.
    const { gracePeriodMs, safetyMarginMs } = drain.budget;
    const cutAt = report.startedAt + gracePeriodMs - safetyMarginMs;
    const cut = new Promise<'cut'>((resolve) => {
      setTimeout(() => resolve('cut'), Math.max(0, cutAt - Date.now())).unref();
    });
    const closed = closeFastifyWhenDrained
      ? fastify.close().then(() => 'closed' as const)
      : Promise.resolve('closed' as const);
    void Promise.race([closed, cut]).then(
      async (outcome) => {
        if (outcome === 'cut') {
          fastify.log.warn(
            { budgetMs: gracePeriodMs - safetyMarginMs },
            'baton: fastify.close() did not finish inside the budget; closing its remaining HTTP connections',
          );
          fastify.server.closeAllConnections();
          // Whatever close() still waits for, the margin before SIGKILL is for exiting.
          await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, safetyMarginMs / 2).unref())]);
        }
        if (shouldExit) process.exit(0);
      },
      (error: unknown) => {
        fastify.log.error({ err: error }, 'baton: fastify.close() failed after the drain');
        if (shouldExit) process.exit(1);
      },
    );
  });

  fastify.addHook('onReady', async () => {
    await drain.start();
  });
  // A safety net after @fastify/websocket's own preClose: if batonPreClose was not passed to it, its default
  // already closed every client at once; say so, and drain whatever is left.
  fastify.addHook('preClose', async () => {
    if (!(fastify as unknown as Record<symbol, boolean>)[kPreCloseRan]) {
      fastify.log.warn(
        "baton: @fastify/websocket's default preClose ran (it closes every client at once, without a code); register it with { preClose: batonPreClose }",
      );
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
  const fastify = this as FastifyInstance & Record<symbol, boolean>;
  fastify[kPreCloseRan] = true;
  const finish = () => fastify.websocketServer.close(() => done());
  if (!fastify.hasDecorator('baton')) {
    // Registered without the Baton plugin: close everyone with a code at least, as a server restart.
    for (const client of fastify.websocketServer.clients) client.close(1012, 'server restarting');
    return finish();
  }
  fastify.baton.close().then(finish, (error: unknown) => done(error as Error));
} as never;

export const batonFastifyPlugin = fp(batonPlugin, {
  fastify: '5.x',
  name: '@baton/fastify-plugin',
  dependencies: ['@fastify/websocket'],
});

export default batonFastifyPlugin;
