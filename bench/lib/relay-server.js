// A benchmark relay process: @baton/relay in front of UPSTREAM, controlled over IPC by relay.js like
// server.js (cpu, memory, exit).

import { once } from 'node:events';
import { createServer } from 'node:http';
import { Relay } from '@baton/relay';
import { answerProbes } from './probes.js';

const relay = new Relay({ upstream: process.env.UPSTREAM });
const http = createServer();
http.on('upgrade', (request, socket, head) => relay.handleUpgrade(request, socket, head));
http.listen(0, '127.0.0.1');
await once(http, 'listening');
process.send?.({ type: 'listening', port: http.address().port });

answerProbes(() => relay.stats.connections);
