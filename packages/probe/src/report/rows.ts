// The report's rows: the probe's figures, which every column has (a probe run, a lab strategy), then each
// column's own rows (the lab's accounting). A row that applies to no column is left out.

import type { ProbeFigures } from '../figures/summarize.js';

export interface ReportColumn {
  name: string;
  figures: ProbeFigures;
  /** What ran: the lab's model line, the probe's URL and client kind. */
  model?: string;
  /** Rows of this column's own, by label; a missing label or undefined: does not apply. */
  extra?: Record<string, string | undefined>;
  /** Connections per pod over time (the lab's scale-out rows): max and mean, t in real seconds. */
  balance?: readonly { t: number; max: number; mean: number }[];
}

type Cell = (figures: ProbeFigures) => string | undefined;

const byVersion = (counts: Record<string, number>) =>
  Object.keys(counts).length === 0
    ? undefined
    : Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([version, n]) => `${version}: ${n}`)
        .join(', ');

const histogram = (h: { '0': number; '1': number; '2': number; '3+': number }) =>
  `${h['0']} / ${h['1']} / ${h['2']} / ${h['3+']}`;

export const FIGURE_ROWS: readonly [string, Cell][] = [
  ['clients disconnected 0 / 1 / 2 / 3+ times', (f) => histogram(f.disconnects)],
  [
    'share disconnected more than once',
    (f) => `${(((f.disconnects['2'] + f.disconnects['3+']) / Math.max(1, f.clients)) * 100).toFixed(1)} %`,
  ],
  ['Baton clients by moves 0 / 1 / 2 / 3+ (disconnects + moves)', (f) => (f.moves ? histogram(f.moves) : undefined)],
  ['accepted connections by version', (f) => byVersion(f.acceptsByVersion)],
  ['upgrades refused by version (503…)', (f) => byVersion(f.refusedByVersion)],
  [
    'reconnects the outgoing version took after the first incoming accept',
    (f) =>
      f.outgoingVersion === null
        ? undefined
        : `${f.outgoingReconnectsAfterFirstIncoming} (outgoing: ${f.outgoingVersion})`,
  ],
  [
    'reconnects spread over (real s, 1st to 99th percentile)',
    (f) => (f.reconnects.total < 2 ? undefined : f.reconnects.spreadSeconds.toFixed(1)),
  ],
  [
    'reconnects per real second: peak / even',
    (f) =>
      f.reconnects.total === 0
        ? undefined
        : `${f.reconnects.peakPerSecond.toFixed(1)} / ${f.reconnects.evenPerSecond.toFixed(1)} (${f.reconnects.total} in ${f.reconnects.binSeconds === 1 ? '1 s' : `${f.reconnects.binSeconds.toFixed(0)} s`} bins)`,
  ],
  [
    'peak / even',
    (f) =>
      f.peakToEven === null
        ? undefined
        : `${f.peakToEven.toFixed(2)}x (even over ${f.reconnects.evenOver.kind === 'window' ? 'the drain window' : 'their own spread'}, ${f.reconnects.evenOver.seconds.toFixed(0)} s)`,
  ],
  [
    'disconnects by close code',
    (f) =>
      Object.keys(f.closeCodes).length === 0
        ? undefined
        : Object.entries(f.closeCodes)
            .map(([code, n]) => `${code}: ${n}`)
            .join(', '),
  ],
  [
    'sessions resumed / refused; ticks lost / duplicated',
    (f) =>
      f.sessions
        ? `${f.sessions.resumed} / ${f.sessions.resumeFailed}; ${f.sessions.ticksLost} / ${f.sessions.ticksDuplicated}`
        : undefined,
  ],
  [
    'reconnects to pods already terminating',
    (f) =>
      f.rollout
        ? `${f.rollout.reconnectsToTerminatingPods}${f.rollout.reconnectsToUnknownPods ? ` (${f.rollout.reconnectsToUnknownPods} to pods not watched)` : ''}`
        : undefined,
  ],
  ['connected at the end', (f) => `${f.connectedAtEnd} of ${f.clients}`],
  ['failed attempts (no HTTP answer)', (f) => (f.failures === 0 ? undefined : String(f.failures))],
  ['measured for (real s)', (f) => f.durationSeconds.toFixed(1)],
];

/** The rows to print for these columns: label and one cell per column ('-' where a row does not apply to it). */
export function reportRows(columns: ReportColumn[]): [string, string[]][] {
  const rows: [string, (string | undefined)[]][] = FIGURE_ROWS.map(([label, cell]) => [
    label,
    columns.map((c) => cell(c.figures)),
  ]);
  const extraLabels = [...new Set(columns.flatMap((c) => Object.keys(c.extra ?? {})))];
  for (const label of extraLabels) rows.push([label, columns.map((c) => c.extra?.[label])]);
  return rows
    .filter(([, cells]) => cells.some((cell) => cell !== undefined))
    .map(([label, cells]) => [label, cells.map((cell) => cell ?? '-')]);
}
