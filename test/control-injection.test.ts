// An app that relays user text verbatim (a chat) must not let one user speak
// Baton's control protocol to another. Every control message carries the connection's key from its welcome
// (docs/protocol.md §2); the client drops control-looking frames without it. Real drain-core, real ws server,
// a real BatonSocket as the victim, a raw ws client as the attacker.

import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BatonSocket } from '../packages/client/src/index.js';
import { CONTROL_PREFIX, DrainController } from '../packages/drain-core/src/index.js';
import { Handoff } from '../packages/handoff/src/index.js';
import { useCleanups } from './support/cleanups.js';
import { TEST_HANDOFF_SECRET } from './support/secrets.js';
import { FAST_DRAIN, startWsServer } from './support/servers.js';

const cleanups = useCleanups();
type Session = { user: string };
type ChatSocket = WebSocket & { session?: Session };

/** A chat: every text message goes, verbatim, to every other client. Sessions resume from Baton tokens. */
async function chatGateway() {
  const handoff = new Handoff({ keys: [{ id: 'k1', secret: TEST_HANDOFF_SECRET }] });
  const server = await startWsServer('server');
  const controller = new DrainController({
    ...FAST_DRAIN,
    hintProtocol: { handoff, snapshot: (socket) => (socket as ChatSocket).session },
  });
  controller.attach(server.wss);
  const resumedAs: (string | undefined)[] = [];
  let fresh = 0;
  server.wss.on('connection', (socket: ChatSocket, request: IncomingMessage) => {
    const resume = controller.resumeOf(request);
    socket.session = resume.resumed ? (resume.state as Session) : { user: `user-${++fresh}` };
    resumedAs.push(resume.resumed ? socket.session.user : undefined);
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      for (const other of server.wss.clients) if (other !== socket) other.send(String(data));
    });
  });
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  return { server, controller, resumedAs };
}

/** A raw Baton-capable ws client that keeps what the server tells it. */
async function attacker(url: string) {
  const ws = new WebSocket(url, ['baton.v1']);
  const controls: Record<string, unknown>[] = [];
  ws.on('message', (data) => {
    const text = String(data);
    if (text.startsWith(CONTROL_PREFIX)) controls.push(JSON.parse(text.slice(CONTROL_PREFIX.length)));
  });
  await once(ws, 'open');
  return { ws, controls };
}

function nextMessage(socket: BatonSocket, text: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (event: Event) => {
      if ((event as MessageEvent).data !== text) return;
      socket.removeEventListener('message', listener);
      resolve();
    };
    socket.addEventListener('message', listener);
  });
}

describe('control messages relayed by the app', () => {
  it("a forged checkpoint, even with the attacker's own control key, is dropped: the victim resumes its own session", async () => {
    const { server, controller, resumedAs } = await chatGateway();
    const victim = new BatonSocket(server.url, [], { WebSocket, initialDelayMs: 10, maxDelayMs: 20 });
    cleanups.push(() => victim.close());
    await once(victim as unknown as EventTarget, 'open');
    const evil = await attacker(server.url);
    cleanups.push(() => evil.ws.terminate());
    // The attacker's own, genuine checkpoint: a token of the attacker's session, and its connection's key.
    const attackerSocket = [...server.wss.clients].find((socket) => (socket as ChatSocket).session?.user === 'user-2');
    expect(attackerSocket).toBeDefined();
    expect(await controller.checkpoint(attackerSocket as WebSocket)).toBe(true);
    await new Promise<void>((resolve) => {
      const check = () =>
        evil.controls.some((c) => c.t === 'checkpoint') ? resolve() : evil.ws.once('message', check);
      check();
    });
    const welcome = evil.controls.find((c) => c.t === 'welcome') as { k: string };
    const genuine = evil.controls.find((c) => c.t === 'checkpoint') as { token: string };
    // The victim's own checkpoint, written to its socket before anything the attacker sends next.
    const victimSocket = [...server.wss.clients].find((socket) => (socket as ChatSocket).session?.user === 'user-1');
    expect(await controller.checkpoint(victimSocket as WebSocket)).toBe(true);
    for (const k of [undefined, welcome.k]) {
      const forged = { t: 'checkpoint', v: 1, ...(k ? { k } : {}), token: genuine.token };
      evil.ws.send(CONTROL_PREFIX + JSON.stringify(forged));
    }
    // The chat keeps order: once the marker arrives, the victim has seen both forged frames.
    const marker = nextMessage(victim, 'marker');
    evil.ws.send('marker');
    await marker;

    // The victim's server dies without a hint: it reconnects, offering the last checkpoint it believed in.
    const reopened = once(victim as unknown as EventTarget, 'open');
    victimSocket?.terminate();
    await reopened;
    // It resumed its own session from its genuine checkpoint; the forged ones were dropped.
    expect(resumedAs).toEqual([undefined, undefined, 'user-1']);
  });

  it('a forged reconnect hint does not move the victim', async () => {
    const { server } = await chatGateway();
    const reasons: string[] = [];
    const victim = new BatonSocket(server.url, [], {
      WebSocket,
      url: ({ reason, current }) => {
        reasons.push(reason);
        return current;
      },
    });
    cleanups.push(() => victim.close());
    await once(victim as unknown as EventTarget, 'open');
    const evil = await attacker(server.url);
    cleanups.push(() => evil.ws.terminate());
    const welcome = await new Promise<{ k: string }>((resolve) => {
      const check = () => {
        const found = evil.controls.find((c) => c.t === 'welcome');
        if (found) resolve(found as { k: string });
        else evil.ws.once('message', check);
      };
      check();
    });
    for (const k of [undefined, welcome.k]) {
      const forged = { t: 'reconnect', v: 1, ...(k ? { k } : {}), deadline: Date.now() + 60_000, reason: 'x' };
      evil.ws.send(CONTROL_PREFIX + JSON.stringify(forged));
    }
    const marker = nextMessage(victim, 'marker');
    evil.ws.send('marker');
    await marker;
    // A move asks the url option for its target before anything else, synchronously on the hint.
    expect(reasons).toEqual(['connect']);
  });
});
