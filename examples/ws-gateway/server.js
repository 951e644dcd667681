// @ts-check
// A small WebSocket gateway on `ws` + @baton/drain-core, the shape a team would copy.
// Each connection is a session (id, counter); every TICK_MS the server pushes
//   {"type":"tick","id":"ID:COUNTER","session":ID,"n":COUNTER,"version":APP_VERSION}
// and a text message {"type":"echo",...} comes back unchanged. SIGTERM or baton-drain (the preStop hook)
// drains it: upgrades accepted while endpoints propagate, then 1012 closes (or, for Baton clients, reconnect
// hints carrying the sealed session) spread over the window, then exit 0.
//
//   PORT=8080 ADMIN_PORT=9090 APP_VERSION=v1 node examples/ws-gateway/server.js
//
// WORKERS=N runs N gateway processes in the pod (node:cluster): this process becomes the pod's primary — the
// signals, the admin server, the budget, the rollout hold, readiness and metrics for the whole pod — and the
// workers drain when it says, over its window (gateway-common/pod.js).

import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { DrainController, joinPod } from '@baton/drain-core';
import { drainOptions, readConfig } from '@baton/example-gateway-common/config.js';
import { logger } from '@baton/example-gateway-common/logger.js';
import { startLoopStats } from '@baton/example-gateway-common/loop-stats.js';
import { runPodPrimary, workerDrainOptions, workersFrom } from '@baton/example-gateway-common/pod.js';
import { createSessionHub } from '@baton/example-gateway-common/sessions.js';
import { WebSocketServer } from 'ws';

/** @param {unknown} error */
function startupFailed(error) {
  // An impossible budget is a start-up error, not a surprise at SIGKILL.
  const { code } = /** @type {{ code?: string }} */ (error);
  logger.error({ code, err: String(error) }, 'invalid configuration');
  process.exit(2);
}

/** @type {ReturnType<typeof readConfig>} */
let config = /** @type {never} */ (undefined);
let workers = 1;
try {
  config = readConfig(process.env);
  workers = workersFrom(process.env);
} catch (error) {
  startupFailed(error);
}

if (workers > 1 && cluster.isPrimary) {
  try {
    await runPodPrimary({ config, logger, workers });
  } catch (error) {
    startupFailed(error);
  }
} else {
  await startGateway(cluster.isWorker);
}

/**
 * One gateway process: the whole pod, or (inPod) one worker of a pod whose primary drives its drain.
 * @param {boolean} inPod
 */
async function startGateway(inPod) {
  /** @type {DrainController} */
  let drain;
  /** @type {ReturnType<typeof createSessionHub>} */
  let sessions;
  try {
    sessions = createSessionHub(config);
    const options = await drainOptions(config, sessions, logger);
    drain = new DrainController(inPod ? workerDrainOptions(options) : options);
  } catch (error) {
    return startupFailed(error);
  }

  const server = createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'this is a WebSocket endpoint' }));
  });
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
  drain.attach(wss);
  wss.on('connection', (socket, request) => sessions.accept(socket, drain.resumeOf(request)));

  drain.on('state', ({ from, to, trigger }) => logger.info({ from, to, trigger }, 'drain state'));
  if (inPod) {
    joinPod(drain);
    // The pod's primary takes SIGTERM (the container's PID 1) and tells this worker when to close: a signal
    // sent to the whole process group must not cut this worker's connections short.
    process.on('SIGTERM', () => {});
    // The primary is gone (it exits once the pod drained): so is this worker.
    process.on('disconnect', () => process.exit(0));
  }
  startLoopStats(process.env, logger, drain);
  drain.on('drained', (report) => {
    logger.info({ report }, 'drained');
    // Only a pod being deleted shuts down (drain-core then exits): a manual drain can be cancelled
    // (DELETE /drain on the admin port) and the gateway serves again.
    if (!report.terminating) return;
    sessions.stop();
    server.close();
  });

  server.on('error', (error) => {
    logger.error({ err: String(error) }, 'public server error');
    process.exit(1);
  });
  try {
    await drain.start();
  } catch (error) {
    logger.error({ code: /** @type {{ code?: string }} */ (error).code, err: String(error) }, 'admin server failed');
    process.exit(1);
  }
  server.listen(config.port, config.host, () => {
    const address = /** @type {import('node:net').AddressInfo} */ (server.address());
    // A worker's line is its own: the pod's 'listening' comes from the primary once every worker listens.
    logger.info(
      { port: address.port, adminPort: drain.adminAddress()?.port, version: config.appVersion, budget: drain.budget },
      inPod ? 'worker listening' : 'listening',
    );
  });
}
