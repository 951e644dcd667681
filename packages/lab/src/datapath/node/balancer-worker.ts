// A worker process of the lab balancer (node:cluster): the primary accepts connections on the shared port and
// hands them out; each worker proxies its share with its own descriptors, so 20,000 clients (two descriptors
// each) fit under a per-process limit of 20,000.

import { createServer } from 'node:net';
import { DEFAULT_ROUTING, type Endpoint, ProxyCore, type RoutingOptions } from './proxy-core.js';

const routing: RoutingOptions = { ...DEFAULT_ROUTING, ...JSON.parse(process.env.BATON_LAB_ROUTING ?? '{}') };
let pending: [number, number][] = [];
const core = new ProxyCore(
  routing,
  (port) => pending.push([Date.now(), port]),
  (node, healthy) => process.send?.({ type: 'health', node, healthy }),
);

// Accepts go to the primary in batches: one IPC message per connection would be 20,000 messages a second.
setInterval(() => {
  if (pending.length === 0) return;
  process.send?.({ type: 'accepts', list: pending });
  pending = [];
}, 100).unref();

process.on('message', (message: { type: string; endpoints?: Endpoint[]; id?: number }) => {
  if (message.type === 'endpoints') core.apply(message.endpoints ?? []);
  else if (message.type === 'flows')
    process.send?.({
      type: 'flows',
      id: message.id,
      flows: [...core.openFlows()],
      accepts: pending.splice(0),
      dropped: core.dropped,
    });
  else if (message.type === 'close') {
    core.closeAll();
    process.exit(0);
  }
});

createServer((client) => core.route(client)).listen(Number(process.env.BATON_LAB_PORT ?? 0), '127.0.0.1');
