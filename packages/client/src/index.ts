// The public API of @baton/client: exactly what its README documents. Everything else is internal.
export type { BackoffOptions } from './backoff.js';
export {
  BatonSocket,
  type BatonSocketOptions,
  type SocketConstructor,
  type UnderlyingSocket,
  type UrlContext,
} from './baton-socket.js';
export { BatonCloseEvent, BatonMessageEvent, type BatonSocketEventMap, MigratedEvent, ResumeEvent } from './events.js';
export { QUEUE_FULL, QueueFullError } from './send-queue.js';
