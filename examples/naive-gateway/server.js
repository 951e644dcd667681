// @ts-check
// The release lab's baseline: the example gateway's sessions, ticks and echo on plain `ws`, shut down the way
// many gateways are: on SIGTERM every client is closed at once (1001) and the process exits.

import { createServer } from 'node:http';
import { readConfig } from '@baton/example-gateway-common/config.js';
import { logger } from '@baton/example-gateway-common/logger.js';
import { createSessionHub } from '@baton/example-gateway-common/sessions.js';
import { WebSocketServer } from 'ws';

const config = readConfig(process.env);
const sessions = createSessionHub(config);
const server = createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => sessions.accept(socket, { resumed: false }));
// Like the Baton examples, it names its pod and version on every upgrade (what drain-core's identity option
// sends), so baton-probe can tell which version took each reconnect of the baseline too.
wss.on('headers', (headers) => {
  headers.push(`Baton-Pod: ${config.podName}`, `Baton-Version: ${config.appVersion}`);
});

process.on('SIGTERM', () => {
  logger.info({ connections: wss.clients.size }, 'closing everything');
  for (const client of wss.clients) client.close(1001, 'going away');
  sessions.stop();
  server.close();
  // Give the close frames a moment to leave, as such servers usually do, then go.
  setTimeout(() => process.exit(0), 200).unref();
});

server.listen(config.port, config.host, () => {
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  logger.info({ port: address.port, version: config.appVersion }, 'listening');
});
