export { type BackoffOptions, reconnectDelay } from './backoff.js';
export {
  BatonSocket,
  type BatonSocketOptions,
  type SocketConstructor,
  type UnderlyingSocket,
  type UrlContext,
} from './baton-socket.js';
export { BatonCloseEvent, BatonMessageEvent, type BatonSocketEventMap, MigratedEvent, ResumeEvent } from './events.js';
export { BATON_PROTOCOL, CONTROL_PREFIX, type Control, parseControl, RESUME_PROTOCOL_PREFIX } from './protocol.js';
