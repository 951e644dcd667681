export { RelayError, type RelayErrorCode, RelayErrorCodes } from './errors.js';
export { registerRelayMetrics } from './metrics.js';
export { DEFAULT_FORWARD_HEADERS, type RelayOptions } from './options.js';
export { Relay } from './relay.js';
export type { RelayStats } from './relay-stats.js';
