// Type test (compiled by `pnpm typecheck`, never run): `ws`'s WebSocket class fits without a cast, and the
// event map types each event's fields.
import { WebSocket } from 'ws';
import { BatonSocket } from '../../src/index.js';

const socket = new BatonSocket('ws://127.0.0.1:8080/', [], { WebSocket });
new BatonSocket('ws://127.0.0.1:8080/', 'chat', { WebSocket, socketOptions: { maxPayload: 65_536 } });
socket.addEventListener('migrated', (event) => {
  const resumed: boolean = event.resumed;
  const why: string | undefined = event.resumeError;
  void [resumed, why];
});
socket.addEventListener('resume-failed', (event) => {
  const code: string | undefined = event.resumeError;
  void code;
});
socket.addEventListener('close', (event) => {
  const code: number = event.code;
  const reason: string = event.reason;
  void [code, reason];
});
socket.addEventListener('message', (event) => {
  const parsed: unknown = JSON.parse(event.data);
  void parsed;
});
socket.onmessage = (event) => JSON.parse(event.data);
new BatonSocket('ws://127.0.0.1:8080/', [], {
  WebSocket,
  dedupe: (data) => JSON.parse(data).id,
  url: ({ reason, current }) => (reason === 'move' ? current.replace(':8080', ':8081') : current),
});
// @ts-expect-error: 'migrated' events carry no `code`.
socket.addEventListener('migrated', (event) => event.code);
