#!/usr/bin/env node
// baton-relay: the relay as a process (the container's entry). JSON log lines on stdout; its own release is a
// drain-core drain (SIGTERM or the preStop `baton-drain`): clients closed once each with 1012, paced.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DrainController, drainOptionsOf } from '@baton/drain-core';
import { readCliConfig, USAGE } from './cli-config.js';
import { registerRelayMetrics } from './metrics.js';
import { redactedUrl } from './redacted-url.js';
import { Relay } from './relay.js';

function log(level: string, fields: Record<string, unknown>, msg: string): void {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`);
}
const logger = {
  info: (fields: Record<string, unknown>, msg: string) => log('info', fields, msg),
  warn: (fields: Record<string, unknown>, msg: string) => log('warn', fields, msg),
  error: (fields: Record<string, unknown>, msg: string) => log('error', fields, msg),
};

// A variable, so that bundlers and tsc leave the optional peer alone.
const KUBERNETES_PACKAGE = '@baton/kubernetes';

let config: ReturnType<typeof readCliConfig>;
let relay: Relay;
let drain: DrainController;
let registry: unknown;
try {
  config = readCliConfig(process.argv.slice(2), process.env);
  if (config === 'help') {
    console.log(USAGE);
    process.exit(0);
  }
  relay = new Relay(config.relay);
  try {
    const { Registry } = await import('prom-client');
    registry = new Registry();
  } catch {
    registry = undefined;
  }
  // Loaded only when asked for, from the relay's own installation (an optional peer).
  const { drain: env } = config;
  const rolloutHold =
    env.rolloutHold === 'kubernetes'
      ? ((await import(KUBERNETES_PACKAGE)) as typeof import('@baton/kubernetes')).kubernetesRolloutHold(
          env.kubernetesTimeoutMs === undefined ? {} : { requestTimeoutMs: env.kubernetesTimeoutMs },
        )
      : undefined;
  drain = new DrainController({
    ...drainOptionsOf(env),
    logger,
    ...(registry ? { metrics: { registry } } : {}),
    ...(rolloutHold ? { rolloutHold } : {}),
  });
} catch (error) {
  const { code } = error as { code?: string };
  logger.error({ code, err: String(error) }, 'invalid configuration');
  process.exit(2);
}
if (registry) await registerRelayMetrics(relay, registry);

const server = createServer((_request, response) => {
  response.writeHead(426, { 'Content-Type': 'application/json', Upgrade: 'websocket' });
  response.end(JSON.stringify({ error: 'this is a WebSocket relay' }));
});
server.on('upgrade', (request, socket, head) => relay.handleUpgrade(request, socket, head));
drain.attach(relay.server);
drain.on('state', ({ from, to, trigger }) => logger.info({ from, to, trigger }, 'drain state'));
drain.on('drained', (report) => {
  logger.info({ report }, 'drained');
  if (!report.terminating) return;
  relay.close();
  server.close();
});
server.on('error', (error) => {
  logger.error({ err: String(error) }, 'public server error');
  process.exit(1);
});
try {
  await drain.start();
} catch (error) {
  logger.error({ code: (error as { code?: string }).code, err: String(error) }, 'admin server failed');
  process.exit(1);
}
server.listen(config.port, config.host, () => {
  const address = server.address() as AddressInfo;
  logger.info(
    // The upstream URL may carry credentials: logged without them.
    { port: address.port, adminPort: drain.adminAddress()?.port, upstream: redactedUrl(config.relay.upstream) },
    'listening',
  );
});
