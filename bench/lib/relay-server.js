// A benchmark relay process: @baton/relay in front of UPSTREAM, controlled over IPC by relay.js like
// server.js (cpu, memory, exit).

import { once } from 'node:events';
import { createServer } from 'node:http';
import { Relay } from '@baton/relay';

const relay = new Relay({ upstream: process.env.UPSTREAM });
const http = createServer();
http.on('upgrade', (request, socket, head) => relay.handleUpgrade(request, socket, head));
http.listen(0, '127.0.0.1');
await once(http, 'listening');
const send = (message) => process.send?.(message);
send({ type: 'listening', port: http.address().port });

process.on('message', (message) => {
  switch (message.type) {
    case 'memory': {
      for (let i = 0; i < 3; i++) globalThis.gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      return send({ type: 'memory', rss, heapUsed, connections: relay.stats.connections });
    }
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return send({ type: 'cpu', micros: user + system });
    }
    case 'exit':
      process.exit(0);
  }
});
