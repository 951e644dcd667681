// Coded errors. Every error Baton throws, rejects with or answers over HTTP carries a stable
// `code` (BATON_ERR_*) so callers and tests match on the code, never on the wording.

export const ErrorCodes = {
  /**
   * A BATON_* environment variable (drainOptionsFromEnv) has a value it cannot take. The message names the
   * variable and what it must be; a secret's value is never quoted.
   */
  INVALID_ENV: 'BATON_ERR_INVALID_ENV',
  /** An option has the wrong type (TypeError) or is out of range (RangeError), or is unknown. */
  INVALID_OPTION: 'BATON_ERR_INVALID_OPTION',
  /** The drain budget cannot fit in the grace period. Thrown as a RangeError that names the numbers to change. */
  BUDGET: 'BATON_ERR_BUDGET',
  /** `attach()` was given something that is not a ws WebSocketServer, or the same server twice. */
  INVALID_SERVER: 'BATON_ERR_INVALID_SERVER',
  /** `attach()` after the drain started: connections of that server could not be paced. */
  NOT_SERVING: 'BATON_ERR_NOT_SERVING',
  /** The admin server could not listen (port in use, permission). */
  ADMIN_LISTEN: 'BATON_ERR_ADMIN_LISTEN',
  /** An upgrade was refused because the pod is closing (HTTP 503 with Retry-After). */
  DRAINING: 'BATON_ERR_DRAINING',
  /** Admin HTTP: the path is not one of the admin endpoints (404). */
  NOT_FOUND: 'BATON_ERR_NOT_FOUND',
  /** Admin HTTP: the method is not allowed on that path (405, with Allow). */
  METHOD_NOT_ALLOWED: 'BATON_ERR_METHOD_NOT_ALLOWED',
  /** Admin HTTP: DELETE on the drain path with no manual drain to cancel (409). */
  NOT_CANCELLABLE: 'BATON_ERR_NOT_CANCELLABLE',
  /** Admin HTTP: a drain was asked for by a peer that is not loopback and offered no valid token (403). */
  FORBIDDEN: 'BATON_ERR_FORBIDDEN',
  /** Admin HTTP: the request could not be parsed, or its body is too large (400 / 413). */
  BAD_REQUEST: 'BATON_ERR_BAD_REQUEST',
  /** Admin HTTP: /metrics was asked for but prom-client is not installed and no registry was given (404). */
  METRICS_DISABLED: 'BATON_ERR_METRICS_DISABLED',
  /** Admin HTTP: collecting metrics failed (500). Details go to the logger, never to the response. */
  INTERNAL: 'BATON_ERR_INTERNAL',
  /** resumeOf(): a resume token was offered, but hintProtocol has no handoff to open it (a fresh session). */
  RESUME_UNSUPPORTED: 'BATON_ERR_RESUME_UNSUPPORTED',
  /**
   * resumeOf(): the handoff could not open the token and gave no code of its own. The same code as
   * @baton/handoff's, which drain-core does not import.
   */
  TOKEN_MALFORMED: 'BATON_ERR_TOKEN_MALFORMED',
  /** The rolloutHold hook threw, rejected or answered something else than a RolloutHoldResult: no hold. */
  HOLD_FAILED: 'BATON_ERR_HOLD_FAILED',
  /** An upgrade refused (503 + Retry-After) by admission control: over the pod's accepts per second. */
  ADMISSION_LIMIT: 'BATON_ERR_ADMISSION_LIMIT',
  /**
   * An upgrade of a client moving for a rebalance refused (503, Retry-After: 0) because this pod already holds
   * its share: the client tries again at once and the load balancer picks another pod. Never a plain client.
   */
  REBALANCE_ELSEWHERE: 'BATON_ERR_REBALANCE_ELSEWHERE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface CodedError extends Error {
  readonly code: ErrorCode;
}

/** A plain Error with a code, for failures that are not about argument type or range. */
export class BatonError extends Error implements CodedError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BatonError';
    this.code = code;
  }
}

/** Build a TypeError or RangeError carrying a code, as ws does with WS_ERR_* on its own errors. */
export function codedError<T extends TypeErrorConstructor | RangeErrorConstructor>(
  Kind: T,
  code: ErrorCode,
  message: string,
): InstanceType<T> & CodedError {
  const error = new Kind(message) as InstanceType<T> & { code: ErrorCode };
  Object.defineProperty(error, 'code', { value: code, enumerable: true });
  return error;
}
