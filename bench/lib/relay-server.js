// A benchmark relay process: @baton/relay in front of UPSTREAM, with drain-core on its client side as
// baton-relay runs it, controlled over IPC like server.js (cpu, memory, drain, exit).

import { once } from 'node:events';
import { createServer } from 'node:http';
import { DrainController } from '@baton/drain-core';
import { Relay } from '@baton/relay';
import { benchDrainOptions, drainProbe } from './drain-probe.js';
import { answerProbes } from './probes.js';

const relay = new Relay({ upstream: process.env.UPSTREAM });
const windowMs = Number(process.env.DRAIN_WINDOW_MS ?? 10_000);
const drain = new DrainController(benchDrainOptions(windowMs));
drain.attach(relay.server);
await drain.start();

const http = createServer();
http.on('upgrade', (request, socket, head) => relay.handleUpgrade(request, socket, head));
http.listen(0, '127.0.0.1');
await once(http, 'listening');
process.send?.({ type: 'listening', port: http.address().port });

const connections = () => relay.stats.connections;
answerProbes(connections, { drain: drainProbe(connections, relay.server, drain, windowMs) });
