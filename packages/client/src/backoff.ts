// Reconnect delays: capped exponential back-off with full jitter (every delay uniform in [0, cap]), so a
// fleet that lost the same pod does not come back in lockstep. A close with 1012 (Service Restart) or 1013
// (Try Again Later) means the server wants us elsewhere now: the first retry then waits at most
// restartDelayMs.

export interface BackoffOptions {
  /** First cap, doubled per failed attempt. Default 500. */
  initialDelayMs?: number;
  /** Largest cap. Default 30000. */
  maxDelayMs?: number;
  /** Cap for the first retry after 1012/1013. Default 1000. */
  restartDelayMs?: number;
}

export function reconnectDelay(
  attempt: number,
  closeCode: number,
  options: BackoffOptions,
  random: () => number,
): number {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const restart = options.restartDelayMs ?? 1000;
  const cap =
    attempt === 0 && (closeCode === 1012 || closeCode === 1013) ? restart : Math.min(max, initial * 2 ** attempt);
  return random() * cap;
}
