// What a run measured: the clients' records (disconnects, moves, ticks), the data path's accept log, the old
// pods' drain reports (the window actually used, the holds), and for a crash the survivors' figures.

import type { ClientRecord } from '@baton/probe';
import type { PodProcess } from '../cluster/pod-process.js';
import type { Cluster, ReleaseTimeline } from '../cluster/release.js';
import type { LabBalancer } from '../datapath/lab-balancer.js';
import { pooledPercentile } from '../report/loop-delay.js';
import type { LabOptions, StrategyResult, StrategyRun } from './types.js';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function sessionsSurvive(run: StrategyRun): boolean {
  return run.clients === 'baton' || run.throughRelay === true;
}

export function histogram(values: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

export function measure(
  run: StrategyRun,
  options: LabOptions,
  releases: ReleaseTimeline[],
  records: ClientRecord[],
  balancer: LabBalancer,
  windowMs: number,
  graceMs: number,
  lagMs: number,
  views: Pick<StrategyResult, 'probe' | 'acceptAudit'>,
): StrategyResult {
  const count = (predicate: (r: ClientRecord) => boolean) => records.filter(predicate).length;
  const timeline = releases[0] as ReleaseTimeline;
  const accepts = balancer.accepts.filter((accept) => accept.at >= timeline.startedAt);
  // Connections the outgoing version accepted once its cut-over had propagated (for a rollback, both the
  // forward release's old pods and the rollback's).
  const lateAccepts = releases.reduce((sum, r) => {
    const ports = new Set(r.oldPods.map((pod) => pod.port));
    return sum + accepts.filter((accept) => ports.has(accept.port) && accept.at > r.cutOverAt + lagMs).length;
  }, 0);
  const bins = new Map<number, number>();
  for (const accept of accepts) {
    const second = Math.floor((accept.at - timeline.startedAt) / 1000);
    bins.set(second, (bins.get(second) ?? 0) + 1);
  }
  const perSecond = [...bins.values()];
  const lastSecond = Math.max(-1, ...bins.keys());
  const reconnects = Array.from({ length: lastSecond + 1 }, (_, second) => bins.get(second) ?? 0);
  const drains = releases.flatMap((r) => r.oldPods).map(drainReportOf);
  const used = usedWindowMs(drains, windowMs);
  const evenRate = options.clients / (used / 1000);
  const peak = Math.max(0, ...perSecond);
  const holdReports = drains.flatMap((report) => (report?.hold ? [report.hold] : []));
  const outcomes: Record<string, number> = {};
  for (const hold of holdReports) outcomes[hold.outcome] = (outcomes[hold.outcome] ?? 0) + 1;
  const disconnects = records.map((r) => r.disconnects);
  return {
    name: run.name,
    model: '',
    dataPath: balancer.dataPath,
    clients: records.length,
    disconnects: {
      zero: count((r) => r.disconnects === 0),
      one: count((r) => r.disconnects === 1),
      two: count((r) => r.disconnects === 2),
      threeOrMore: count((r) => r.disconnects >= 3),
      max: Math.max(0, ...disconnects),
      shareMoreThanOnce: count((r) => r.disconnects > 1) / records.length,
    },
    appVisibleDisconnectsOfBatonClients: run.clients === 'baton' ? disconnects.reduce((a, b) => a + b, 0) : null,
    closeCodes: histogram(records.flatMap((r) => r.closeCodes)),
    sessionsTracked: sessionsSurvive(run),
    maxMoves: Math.max(0, ...records.map((r) => r.disconnects + r.migrations)),
    minMoves: Math.min(...records.map((r) => r.disconnects + r.migrations)),
    // Sessions survive only a Baton move (its client's or its relay's); plain clients start new ones.
    ticksLost: sessionsSurvive(run) ? records.reduce((a, r) => a + r.ticksLost, 0) : 0,
    ticksDuplicated: sessionsSurvive(run) ? records.reduce((a, r) => a + r.ticksDuplicated, 0) : 0,
    oldPodAcceptsAfterCutOver: lateAccepts,
    reconnectsPerSecond: {
      peak,
      p99: percentile(perSecond, 99),
      evenRate,
      peakOverEven: peak / evenRate,
      windowSeconds: used / 1000,
    },
    drains: releases
      .flatMap((r) => r.oldPods)
      .map((pod, i) => {
        const report = drains[i];
        const since = (at: number) => Math.round(at - timeline.startedAt) / 1000;
        return {
          deletedAt: since(pod.deletedAt),
          closingAt: report?.closingAt ? since(report.closingAt) : null,
          windowSeconds: report?.closingAt ? (report.hold?.windowMs ?? windowMs) / 1000 : null,
          hold: report?.hold ? `${report.hold.outcome} (${report.hold.reason})` : null,
        };
      }),
    droppedConnects: balancer.dropped,
    acceptEventsLost: balancer.eventsLost,
    holds:
      holdReports.length === 0
        ? null
        : {
            outcomes,
            longestSeconds: Math.max(...holdReports.map((hold) => hold.heldMs)) / 1000 / options.timeScale,
          },
    durationSeconds: (Date.now() - timeline.startedAt) / 1000,
    podsMissingDeadline: releases.flatMap((r) => r.oldPods).filter((pod) => pod.exitedAt - pod.deletedAt > graceMs)
      .length,
    connectedAtEnd: count((r) => r.connected),
    unplanned: null,
    balance: null,
    series: { reconnects },
    timeScale: options.timeScale,
    ...views,
  };
}

/** What a crash cost the survivors and the clients (see StrategyResult.unplanned). */
export function unplannedFigures(
  run: StrategyRun,
  options: LabOptions,
  timeline: ReleaseTimeline,
  records: ClientRecord[],
  balancer: LabBalancer,
  cluster: Cluster,
): NonNullable<StrategyResult['unplanned']> {
  const crashAt = timeline.startedAt;
  // Bins of one real-world second (the lab runs 1/timeScale faster): counts are accepts per real second.
  const binMs = 1000 * options.timeScale;
  const perPodSecond = new Map<string, number>();
  let lastAccept = crashAt;
  for (const accept of balancer.accepts) {
    if (accept.at < crashAt) continue;
    const key = `${accept.port}:${Math.floor((accept.at - crashAt) / binMs)}`;
    perPodSecond.set(key, (perPodSecond.get(key) ?? 0) + 1);
    lastAccept = Math.max(lastAccept, accept.at);
  }
  const crashed = new Set(timeline.oldPods);
  // Every pod that did not crash, survivors and replacements, with its loop lines since the crash.
  const serving = cluster.pods.flatMap((pod) =>
    pod.process && !crashed.has(pod.process)
      ? [{ pod, lines: pod.process.lines.filter((line) => line.msg === 'loop' && line.time >= crashAt) }]
      : [],
  );
  const loopLines = serving.flatMap(({ lines }) => lines);
  // The survivors' loops: pods that served before the crash (a replacement's first seconds are its start-up).
  const survivorLines = serving.filter(({ pod }) => pod.createdAt < crashAt).flatMap(({ lines }) => lines);
  const loopP99 = survivorLines.map((line) => Number(line.p99Ms));
  // Lines are logged at the end of their interval: the storm's are those up to one interval past the last accept.
  const stormLines = survivorLines.filter((line) => line.time <= lastAccept + binMs);
  const loopP99Storm = pooledPercentile(
    stormLines.map((line) => ({ count: Number(line.count ?? 0), cdf: (line.cdf ?? []) as [number, number][] })),
  );
  const baton = run.clients === 'baton';
  const hit = records.filter((r) => r.disconnects > 0 || r.resumed > 0);
  return {
    peakAcceptsPerPodPerSecond: Math.max(0, ...perPodSecond.values()),
    // Loop lines come every real-world second of lab time (`intervalMs`), or later when the loop is loaded
    // (`elapsedMs`, never shorter): `accepted` scaled to the interval asked for is per real-world second, and
    // admission control's bound reads the same in every line: at most the cap plus the burst.
    peakAdmittedPerPodPerSecond: Math.max(0, ...loopLines.map((line) => admittedPerSecond(line))),
    loopP99Ms: Math.max(0, ...loopP99),
    loopP99StormMs: loopP99Storm,
    secondsUntilAllBack: (lastAccept - crashAt) / 1000 / options.timeScale,
    resumed: baton ? hit.filter((r) => r.resumed > 0).length : null,
    fresh: baton ? hit.filter((r) => r.resumed === 0).length : null,
  };
}

export interface DrainedReport {
  closingAt?: number;
  hold?: { outcome: string; reason: string; heldMs: number; windowMs: number };
}

/** The drain report a Baton pod logged when drained (the naive gateway logs none). */
export function drainReportOf(pod: PodProcess): DrainedReport | undefined {
  const line = pod.lines.find((entry) => entry.msg === 'drained' && typeof entry.report === 'object');
  return line?.report as DrainedReport | undefined;
}

/**
 * The span the old pods' closes actually used: from the first closing start to the last window end. A hold
 * shortens and aligns the windows, so N/W over the configured window would flatter or wrong it.
 */
export function usedWindowMs(reports: (DrainedReport | undefined)[], configuredWindowMs: number): number {
  const spans = reports.flatMap((report) =>
    report?.closingAt ? [[report.closingAt, report.closingAt + (report.hold?.windowMs ?? configuredWindowMs)]] : [],
  );
  if (spans.length === 0) return configuredWindowMs;
  const start = Math.min(...spans.map(([from]) => from as number));
  const end = Math.max(...spans.map(([, to]) => to as number));
  return Math.max(1, end - start);
}

/** A loop line's accepted upgrades per real-world second (a line without its interval's length: its count). */
function admittedPerSecond(line: Record<string, unknown>): number {
  const accepted = Number(line.accepted);
  const intervalMs = Number(line.intervalMs);
  const elapsedMs = Number(line.elapsedMs);
  if (!(intervalMs > 0 && elapsedMs >= intervalMs)) return accepted;
  return (accepted * intervalMs) / elapsedMs;
}
