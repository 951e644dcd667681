export { Relay } from './relay.js';
export { RelayError, type RelayErrorCode, RelayErrorCodes } from './errors.js';
export { DEFAULT_FORWARD_HEADERS, type RelayOptions } from './options.js';
export type { RelayStats } from './relay-stats.js';
export { registerRelayMetrics } from './metrics.js';
