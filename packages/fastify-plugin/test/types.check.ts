// Type tests, checked by `pnpm typecheck` (tsc -p packages/fastify-plugin/tsconfig.types.json): what a user
// of the plugin writes must type-check, and misuse must not.

import type { DrainController, ResumeResult } from '@baton/drain-core';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import baton, { type BatonPluginOptions, batonFastifyPlugin, batonPreClose } from '../src/index.js';

const app = Fastify();
await app.register(websocket, { preClose: batonPreClose });
await app.register(baton, { gracePeriodMs: 60_000, admin: { port: 9090 }, closeFastifyWhenDrained: true });
await app.register(batonFastifyPlugin, {});

const controller: DrainController = app.baton;
void controller.drain();

app.get('/', { websocket: true }, (socket, request) => {
  const resume: ResumeResult = request.batonResume;
  if (resume.resumed) {
    const state: unknown = resume.state;
    void state;
  } else {
    const code: string | undefined = resume.error;
    void code;
  }
  socket.send('ok');
});

const options: BatonPluginOptions = { propagationDelayMs: 15_000, exitAfterDrain: 'never' };
void options;

// @ts-expect-error: durations are numbers of milliseconds
await app.register(baton, { gracePeriodMs: '60s' });
// @ts-expect-error: exitAfterDrain is one of 'on-signal' | 'always' | 'never'
await app.register(baton, { exitAfterDrain: 'sometimes' });
app.get('/x', { websocket: true }, (_socket, request) => {
  // @ts-expect-error: the decoration is read-only
  request.batonResume = { resumed: false };
});
