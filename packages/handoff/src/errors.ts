// Coded errors of @baton/handoff. Every failure to open a token has its own code, so a gateway can tell the
// client why its resume failed (a fresh session starts either way) without ever echoing the token.

export const HandoffErrorCodes = {
  /** An option is wrong (TypeError) or out of range (RangeError). */
  INVALID_OPTION: 'BATON_ERR_INVALID_OPTION',
  /** Not a token: wrong type, characters, length or version. */
  TOKEN_MALFORMED: 'BATON_ERR_TOKEN_MALFORMED',
  /** Sealed with a key id this process does not have (rotated out, or another cluster's). */
  TOKEN_BAD_KEY: 'BATON_ERR_TOKEN_BAD_KEY',
  /** Authentication failed: the token was altered or forged. */
  TOKEN_FORGED: 'BATON_ERR_TOKEN_FORGED',
  /** Older than its TTL. */
  TOKEN_EXPIRED: 'BATON_ERR_TOKEN_EXPIRED',
  /** Longer than maxTokenBytes (on open), or the state would make it so (on seal). */
  TOKEN_TOO_LARGE: 'BATON_ERR_TOKEN_TOO_LARGE',
  /** Store mode: the token was already used, or its state is gone from the store. */
  TOKEN_REPLAYED: 'BATON_ERR_TOKEN_REPLAYED',
  /** Store mode: a newer token of the same session was issued since; only the newest one opens. */
  TOKEN_SUPERSEDED: 'BATON_ERR_TOKEN_SUPERSEDED',
  /** Store mode: the session store failed or did not answer in time; the session starts fresh. */
  TOKEN_STORE_UNAVAILABLE: 'BATON_ERR_TOKEN_STORE_UNAVAILABLE',
  /** The state cannot be serialised as JSON. */
  STATE_UNSERIALIZABLE: 'BATON_ERR_STATE_UNSERIALIZABLE',
} as const;

export type HandoffErrorCode = (typeof HandoffErrorCodes)[keyof typeof HandoffErrorCodes];

/** Marks a HandoffError across copies of this package (two installed versions do not share a class). */
const kHandoffError = Symbol.for('baton.handoff.error');

export class HandoffError extends Error {
  readonly code: HandoffErrorCode;
  constructor(code: HandoffErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandoffError';
    this.code = code;
    Object.defineProperty(this, kHandoffError, { value: true });
  }
}

/** True for a HandoffError from any copy of @baton/handoff: a Symbol.for marker, not instanceof. */
export function isHandoffError(value: unknown): value is HandoffError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kHandoffError] === true;
}

export function optionError<T extends TypeErrorConstructor | RangeErrorConstructor>(
  Kind: T,
  message: string,
): InstanceType<T> {
  const error = new Kind(message) as InstanceType<T>;
  Object.defineProperty(error, 'code', { value: HandoffErrorCodes.INVALID_OPTION, enumerable: true });
  return error;
}
