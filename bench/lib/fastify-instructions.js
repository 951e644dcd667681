// Instructions per request of a fastify app with and without @baton/fastify-plugin, counted by valgrind's
// callgrind (instructions, not seconds: the same for the same binary and inputs whatever else the machine
// does). Run as: valgrind --tool=callgrind node fastify-instructions.js VARIANT REQUESTS
// The difference between REQUESTS=n and REQUESTS=0 runs is the per-request cost; start-up cancels out.

import baton, { batonPreClose } from '@baton/fastify-plugin';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';

const [variant, countArg] = process.argv.slice(2);
const count = Number(countArg);
const app = Fastify();
if (variant === 'baton') {
  await app.register(websocket, { preClose: batonPreClose });
  await app.register(baton, { signals: false, exitAfterDrain: 'never', metrics: false });
} else {
  await app.register(websocket);
}
app.get('/hello', async () => ({ hello: 'world' }));
await app.ready();
// The same warm-up for both variants, then the counted requests.
for (let i = 0; i < 500; i++) await app.inject({ method: 'GET', url: '/hello' });
for (let i = 0; i < count; i++) await app.inject({ method: 'GET', url: '/hello' });
process.exit(0);
