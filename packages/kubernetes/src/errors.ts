// Coded errors of @baton/kubernetes. Configuration errors are thrown at start-up; failures during a hold are
// never thrown: they become the hold's `unknown` outcome with one of these codes as its reason.

export const ErrorCodes = {
  /** An option has the wrong type (TypeError) or is out of range (RangeError), or is unknown. */
  INVALID_OPTION: 'BATON_ERR_INVALID_OPTION',
  /** No Kubernetes configuration, or no pod name / namespace (POD_NAME, POD_NAMESPACE from the downward API). */
  CONFIG: 'BATON_ERR_KUBERNETES_CONFIG',
  /** The API server could not be reached (connection refused, DNS, reset) for longer than `giveUpAfterMs`. */
  UNREACHABLE: 'BATON_ERR_KUBERNETES_UNREACHABLE',
  /** A request took longer than `requestTimeoutMs`, and retries did not help within `giveUpAfterMs`. */
  TIMEOUT: 'BATON_ERR_KUBERNETES_TIMEOUT',
  /** 401: the ServiceAccount token was refused. */
  UNAUTHORIZED: 'BATON_ERR_KUBERNETES_UNAUTHORIZED',
  /** 403: the ServiceAccount may not get/list/watch pods in its namespace (see the chart's Role). */
  FORBIDDEN: 'BATON_ERR_KUBERNETES_FORBIDDEN',
  /** The pod itself was not found (404): POD_NAME or POD_NAMESPACE is wrong. */
  POD_NOT_FOUND: 'BATON_ERR_KUBERNETES_POD_NOT_FOUND',
  /** The API answered something else than expected (another status, an object without metadata). */
  BAD_RESPONSE: 'BATON_ERR_KUBERNETES_BAD_RESPONSE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Build a TypeError, RangeError or Error carrying a code (the message never holds a token). */
export function codedError<T extends ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor>(
  Kind: T,
  code: ErrorCode,
  message: string,
): InstanceType<T> & { readonly code: ErrorCode } {
  const error = new Kind(message) as InstanceType<T> & { code: ErrorCode };
  Object.defineProperty(error, 'code', { value: code, enumerable: true });
  return error;
}

/** The code a failed API call stands for: by HTTP status, else by network error. */
export function codeOfApiFailure(error: unknown): ErrorCode {
  const candidate = error as { code?: unknown; statusCode?: unknown; type?: unknown; name?: unknown };
  if (typeof candidate?.code === 'string' && candidate.code.startsWith('BATON_ERR_'))
    return candidate.code as ErrorCode;
  const status =
    typeof candidate?.statusCode === 'number'
      ? candidate.statusCode
      : typeof candidate?.code === 'number'
        ? candidate.code
        : undefined;
  if (status === 401) return ErrorCodes.UNAUTHORIZED;
  if (status === 403) return ErrorCodes.FORBIDDEN;
  if (status === 404) return ErrorCodes.POD_NOT_FOUND;
  if (status !== undefined) return ErrorCodes.BAD_RESPONSE;
  return ErrorCodes.UNREACHABLE;
}

/** 401 and 403 do not heal by retrying within a drain; everything else may. */
export function isPermanent(code: ErrorCode): boolean {
  return code === ErrorCodes.UNAUTHORIZED || code === ErrorCodes.FORBIDDEN || code === ErrorCodes.POD_NOT_FOUND;
}
