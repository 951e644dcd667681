// The probe's JSON report: the figures at the top (what a pipeline reads), the thresholds and the verdict,
// what was run, and the raw run that `merge` needs. Shards' reports merge into the report of one fleet.

import { ProbeError, ProbeErrorCodes } from '../errors.js';
import type { ProbeRun } from './probe-run.js';
import { type ProbeFigures, summarize } from './summarize.js';

export const REPORT_FORMAT = 'baton-probe/1';

export interface Thresholds {
  /** Most clients that may be disconnected more than once. Unchecked when undefined. */
  maxMulti?: number;
  /** Most reconnects the outgoing version may accept after the first incoming accept. Unchecked when undefined. */
  maxOutgoing?: number;
  /** Most clients that may be disconnected at all (a gate on a version that should hold every client). */
  maxDisconnected?: number;
  /** Every accepted connection must be served by this version (a gate right after a selector flip). */
  expectVersion?: string;
}

export interface ProbeMeta {
  url: string;
  /** This report's shards ("1/4"…); one entry when not merged. */
  shards: string[];
  clients: number;
  durationSeconds: number;
  /** The drain window the even rate is judged against (`--window`), real seconds; absent: the reconnects' spread. */
  windowSeconds?: number;
}

export type ProbeReport = {
  format: typeof REPORT_FORMAT;
  meta: ProbeMeta;
  thresholds: Thresholds;
  verdict: { passed: boolean; violations: string[] };
  run: ProbeRun;
} & ProbeFigures;

export function verdictOf(figures: ProbeFigures, thresholds: Thresholds): ProbeReport['verdict'] {
  const violations: string[] = [];
  const multi = figures.disconnects['2'] + figures.disconnects['3+'];
  if (thresholds.maxMulti !== undefined && multi > thresholds.maxMulti)
    violations.push(`${multi} clients were disconnected more than once (--max-multi ${thresholds.maxMulti})`);
  const outgoing = figures.outgoingReconnectsAfterFirstIncoming;
  if (thresholds.maxOutgoing !== undefined && outgoing > thresholds.maxOutgoing)
    violations.push(
      `${outgoing} reconnects reached the outgoing version ${figures.outgoingVersion} after the first connection to another version (--max-outgoing ${thresholds.maxOutgoing})`,
    );
  const disconnected = figures.clients - figures.disconnects['0'];
  if (thresholds.maxDisconnected !== undefined && disconnected > thresholds.maxDisconnected)
    violations.push(`${disconnected} clients were disconnected (--max-disconnected ${thresholds.maxDisconnected})`);
  if (thresholds.expectVersion !== undefined) {
    const others = Object.entries(figures.acceptsByVersion).filter(([version]) => version !== thresholds.expectVersion);
    if (others.length > 0)
      violations.push(
        `connections were served by other versions than ${thresholds.expectVersion}: ${others.map(([v, n]) => `${v} ${n}`).join(', ')} (--expect-version)`,
      );
  }
  return { passed: violations.length === 0, violations };
}

export function buildReport(run: ProbeRun, meta: ProbeMeta, thresholds: Thresholds): ProbeReport {
  const figures = summarize(run, meta.windowSeconds === undefined ? {} : { windowSeconds: meta.windowSeconds });
  return { format: REPORT_FORMAT, meta, ...figures, thresholds, verdict: verdictOf(figures, thresholds), run };
}

/** Check that `value` (parsed from `file`) is a probe report this version can merge. */
export function asReport(value: unknown, file: string): ProbeReport {
  const report = value as Partial<ProbeReport> | null;
  if (typeof report !== 'object' || report === null || report.format !== REPORT_FORMAT || !report.run || !report.meta)
    throw new ProbeError(ProbeErrorCodes.REPORT, `${file} is not a baton-probe report (format ${REPORT_FORMAT})`);
  const run = report.run;
  if (!Array.isArray(run.clients) || !Array.isArray(run.connections) || !Array.isArray(run.refusals))
    throw new ProbeError(ProbeErrorCodes.REPORT, `${file}: its raw run is incomplete (clients, connections, refusals)`);
  return report as ProbeReport;
}

/**
 * One report from the shards' reports of one release: clients and connections concatenated (each shard's
 * client indices moved past the previous shards'), the span from the earliest start to the latest end, the
 * figures computed anew. The shards must have probed the same URL with the same kind of client; their
 * clocks are assumed in sync (NTP), as every time is an epoch time of the machine that measured it.
 */
export function mergeReports(
  reports: { file: string; report: ProbeReport }[],
  thresholds: Thresholds,
  windowSeconds?: number,
): ProbeReport {
  if (reports.length === 0) throw new ProbeError(ProbeErrorCodes.USAGE, 'merge needs at least one report');
  const [first] = reports as [{ file: string; report: ProbeReport }];
  for (const { file, report } of reports) {
    if (report.meta.url !== first.report.meta.url || report.run.kind !== first.report.run.kind)
      throw new ProbeError(
        ProbeErrorCodes.REPORT,
        `${file} probed ${report.meta.url} with ${report.run.kind} clients; ${first.file} probed ${first.report.meta.url} with ${first.report.run.kind} clients`,
      );
  }
  const shards = reports.flatMap(({ report }) => report.meta.shards);
  if (new Set(shards).size !== shards.length)
    throw new ProbeError(ProbeErrorCodes.REPORT, `the same shard appears twice: ${shards.join(', ')}`);
  let offset = 0;
  const runs = reports.map(({ report }) => {
    const moved = report.run.connections.map((c) => ({ ...c, client: c.client + offset }));
    offset += report.run.clients.length;
    return { run: report.run, connections: moved };
  });
  const rollouts = reports.map(({ report }) => report.run.rollout).filter((r) => r !== null);
  const run: ProbeRun = {
    startedAt: Math.min(...runs.map(({ run }) => run.startedAt)),
    endedAt: Math.max(...runs.map(({ run }) => run.endedAt)),
    kind: first.report.run.kind,
    timeScale: first.report.run.timeScale,
    clients: runs.flatMap(({ run }) => run.clients),
    connections: runs.flatMap(({ connections }) => connections).sort((a, b) => a.at - b.at),
    refusals: runs.flatMap(({ run }) => run.refusals).sort((a, b) => a.at - b.at),
    // Every shard that watched saw the same cluster: one watcher's events are the rollout's.
    rollout: rollouts[0] ?? null,
  };
  const meta: ProbeMeta = {
    url: first.report.meta.url,
    shards,
    clients: run.clients.length,
    durationSeconds: (run.endedAt - run.startedAt) / 1000,
  };
  const window = windowSeconds ?? first.report.meta.windowSeconds;
  return buildReport(run, window === undefined ? meta : { ...meta, windowSeconds: window }, thresholds);
}
