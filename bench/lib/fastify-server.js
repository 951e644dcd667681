// A fastify benchmark server: @fastify/websocket alone ('bare'), or with @baton/fastify-plugin ('baton', admin
// listener on). GET /hello for autocannon, an echo websocket route at /ws. Controlled over IPC by run.js.

import baton, { batonPreClose } from '@baton/fastify-plugin';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';

const variant = process.env.VARIANT;
const app = Fastify();
if (variant === 'baton') {
  await app.register(websocket, { preClose: batonPreClose, options: { perMessageDeflate: false } });
  await app.register(baton, { signals: false, exitAfterDrain: 'never', admin: { port: 0, host: '127.0.0.1' } });
} else if (variant === 'bare') {
  await app.register(websocket, { options: { perMessageDeflate: false } });
} else {
  throw new Error(`VARIANT must be bare or baton, got ${variant}`);
}
app.get('/hello', async () => ({ hello: 'world' }));
app.get('/ws', { websocket: true }, (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
await app.listen({ port: 0, host: '127.0.0.1' });
process.send?.({ type: 'listening', port: app.server.address().port });

process.on('message', (message) => {
  if (message.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ type: 'cpu', micros: user + system });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
