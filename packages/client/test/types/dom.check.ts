// Type test (compiled by `pnpm typecheck`, never run): lib.dom's WebSocket fits without a cast, given
// explicitly or taken from globalThis.
import { BatonSocket } from '../../src/index.js';

const socket = new BatonSocket('wss://example.test/', [], { WebSocket });
new BatonSocket(new URL('wss://example.test/'), ['chat'], { WebSocket: globalThis.WebSocket });
new BatonSocket('wss://example.test/');
socket.addEventListener('resumed', (event) => event.type);
socket.addEventListener('message', (event) => JSON.parse(event.data));
