// Coded errors of @baton/probe, one table. The CLI prints the message and exits 2 for every one of them.

export const ProbeErrorCodes = {
  /** A flag is unknown, missing its value, or has a value it cannot take. */
  USAGE: 'BATON_ERR_PROBE_USAGE',
  /** No client could connect at all (unreachable URL, refused, TLS failure, every upgrade refused). */
  UNREACHABLE: 'BATON_ERR_PROBE_UNREACHABLE',
  /** A report given to `merge` cannot be read, is not a probe report, or does not fit the others. */
  REPORT: 'BATON_ERR_PROBE_REPORT',
  /** The cluster could not be watched (no kubeconfig, API unreachable, forbidden). */
  KUBERNETES: 'BATON_ERR_PROBE_KUBERNETES',
  /** A client-fleet worker process ended before the run did (killed, out of memory): its clients' records are lost. */
  FLEET: 'BATON_ERR_PROBE_FLEET',
} as const;

export type ProbeErrorCode = (typeof ProbeErrorCodes)[keyof typeof ProbeErrorCodes];

export class ProbeError extends Error {
  readonly code: ProbeErrorCode;
  constructor(code: ProbeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProbeError';
    this.code = code;
  }
}
