// Coded errors of @baton/relay, one table: every error it throws or answers carries a stable `code`.

export const RelayErrorCodes = {
  /** An option has the wrong type or is out of range (TypeError / RangeError naming the option). */
  INVALID_OPTION: 'BATON_ERR_RELAY_INVALID_OPTION',
  /** The upstream refused the client's upgrade or could not be reached (the client gets HTTP 502). */
  UPSTREAM_REFUSED: 'BATON_ERR_RELAY_UPSTREAM_REFUSED',
  /** The upstream did not open within upstreamTimeoutMs (the client gets HTTP 504). */
  UPSTREAM_TIMEOUT: 'BATON_ERR_RELAY_UPSTREAM_TIMEOUT',
  /** A client read too slowly: more than maxBufferedBytes waited for it (closed with 1008). */
  CLIENT_TOO_SLOW: 'BATON_ERR_RELAY_CLIENT_TOO_SLOW',
  /**
   * A client's messages passed the bound of what may wait for its upstream (a move under way, a slow gateway)
   * although the relay had stopped reading it (closed with 1008).
   */
  CLIENT_TOO_FAST: 'BATON_ERR_RELAY_CLIENT_TOO_FAST',
} as const;

export type RelayErrorCode = (typeof RelayErrorCodes)[keyof typeof RelayErrorCodes];

export class RelayError extends Error {
  constructor(
    readonly code: RelayErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}

/** An invalid option: a TypeError or RangeError with the option's code, as drain-core throws them. */
export function invalidOption(kind: 'type' | 'range', message: string): TypeError | RangeError {
  const error = kind === 'type' ? new TypeError(message) : new RangeError(message);
  return Object.assign(error, { code: RelayErrorCodes.INVALID_OPTION });
}
