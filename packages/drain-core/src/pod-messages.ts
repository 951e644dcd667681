// What the processes of one pod say to each other over Node's IPC channel (node:cluster, or child_process with
// an 'ipc' stdio): the primary tells its workers when to close and over how long; each worker reports what it
// holds. Every message carries `baton: 'pod'` so an app's own IPC messages pass by untouched.

/** What a worker holds and has done: summed by the primary into the pod's status and metrics. */
export interface PodTotals {
  connections: number;
  accepted: number;
  refusedUpgrades: number;
  closed: number;
  hinted: number;
  terminated: number;
  resumed: number;
  resumeRefused: number;
}

export const EMPTY_TOTALS: Readonly<PodTotals> = Object.freeze({
  connections: 0,
  accepted: 0,
  refusedUpgrades: 0,
  closed: 0,
  hinted: 0,
  terminated: 0,
  resumed: 0,
  resumeRefused: 0,
});

const TOTAL_KEYS = Object.keys(EMPTY_TOTALS) as (keyof PodTotals)[];

/** primary → worker */
export type PodCommand =
  | {
      baton: 'pod';
      op: 'close';
      windowMs: number;
      terminating: boolean;
      /** This worker's share of the pod's cap (absent: no cap). */
      maxClosesPerSecond?: number;
    }
  | { baton: 'pod'; op: 'cancel' }
  | { baton: 'pod'; op: 'terminate' };

/** worker → primary */
export interface PodReport {
  baton: 'pod';
  op: 'report';
  totals: PodTotals;
  /** The worker's drain ended (its report is final). */
  drained: boolean;
}

export function isPodMessage(message: unknown): message is { baton: 'pod'; op: string } {
  return typeof message === 'object' && message !== null && (message as { baton?: unknown }).baton === 'pod';
}

/** A report's totals, every field a finite number ≥ 0 (anything else: undefined, the report is ignored). */
export function validTotals(value: unknown): PodTotals | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const totals = {} as PodTotals;
  for (const key of TOTAL_KEYS) {
    const n = (value as Record<string, unknown>)[key];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return undefined;
    totals[key] = n;
  }
  return totals;
}

export function sumTotals(all: Iterable<PodTotals>): PodTotals {
  const sum = { ...EMPTY_TOTALS };
  for (const totals of all) for (const key of TOTAL_KEYS) sum[key] += totals[key];
  return sum;
}
