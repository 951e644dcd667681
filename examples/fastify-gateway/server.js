// @ts-check
// The example gateway on fastify: the same sessions, ticks, echo and environment as examples/ws-gateway,
// with @baton/fastify-plugin instead of a hand-wired DrainController.
//
//   PORT=8080 ADMIN_PORT=9090 APP_VERSION=v1 node examples/fastify-gateway/server.js

import { drainOptions, readConfig } from '@baton/example-gateway-common/config.js';
import { logger } from '@baton/example-gateway-common/logger.js';
import { startLoopStats } from '@baton/example-gateway-common/loop-stats.js';
import { createSessionHub } from '@baton/example-gateway-common/sessions.js';
import baton, { batonPreClose } from '@baton/fastify-plugin';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';

/** @type {ReturnType<typeof readConfig>} */
let config;
/** @type {ReturnType<typeof createSessionHub>} */
let sessions;
/** @type {import('@baton/fastify-plugin').BatonPluginOptions} */
let options;
try {
  config = readConfig(process.env);
  sessions = createSessionHub(config);
  options = await drainOptions(config, sessions, logger);
} catch (error) {
  logger.error({ code: /** @type {{ code?: string }} */ (error).code, err: String(error) }, 'invalid configuration');
  process.exit(2);
}

const app = Fastify();
// Its default preClose would close every client at once, without a code; Baton's drains them instead.
await app.register(websocket, { preClose: batonPreClose, options: { maxPayload: 64 * 1024 } });
try {
  await app.register(baton, options);
} catch (error) {
  // drain-core validates the budget at registration: an impossible one stops start-up here.
  logger.error({ code: /** @type {{ code?: string }} */ (error).code, err: String(error) }, 'invalid configuration');
  process.exit(2);
}

app.get('/', { websocket: true }, (socket, request) => sessions.accept(socket, request.batonResume));

app.baton.on('state', ({ from, to, trigger }) => logger.info({ from, to, trigger }, 'drain state'));
startLoopStats(process.env, logger, app.baton);
app.baton.on('drained', (report) => {
  logger.info({ report }, 'drained');
  if (report.terminating) sessions.stop();
});

try {
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  logger.error({ code: /** @type {{ code?: string }} */ (error).code, err: String(error) }, 'start-up failed');
  process.exit(1);
}
const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
logger.info(
  {
    port: address.port,
    adminPort: app.baton.adminAddress()?.port,
    version: config.appVersion,
    budget: app.baton.budget,
  },
  'listening',
);
