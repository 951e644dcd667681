export { HandoffError, type HandoffErrorCode, HandoffErrorCodes, isHandoffError } from './errors.js';
export { Handoff, type HandoffOptions } from './handoff.js';
export type { HandoffKey } from './keys.js';
export { type RedisCommands, RedisStore, type RedisStoreOptions } from './redis-store.js';
export { MemoryStore, type SessionStore, type TakeResult } from './session-store.js';
export { TOKEN_VERSION, TokenSealer, type TokenSealerOptions } from './token-sealer.js';
