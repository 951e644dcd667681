// The lab's report is the probe's (@baton/probe's table and HTML): each strategy a column with the probe's
// figures of its clients, plus the rows only the lab can fill — its own accounting at the balancer, the old
// pods' drain reports, the holds, the unplanned rows. Rows that apply to no strategy are left out; times are
// real seconds (the lab's compressed clock scaled back).

import { htmlReport, type ReportColumn, reportTable } from '@baton/probe';
import type { StrategyResult } from '../run/types.js';

type Cell = (r: StrategyResult) => string | undefined;

const realSeconds = (r: StrategyResult, labSeconds: number) => labSeconds / r.timeScale;

/** The lab's own rows: what the clients cannot see. undefined: the row does not apply to that strategy. */
export const LAB_ROWS: readonly [string, Cell][] = [
  ['most moves of one client (disconnects + Baton moves)', (r) => String(r.maxMoves)],
  [
    'ticks lost / duplicated (clients through the relay)',
    (r) => (r.sessionsTracked && r.probe.kind === 'plain' ? `${r.ticksLost} / ${r.ticksDuplicated}` : undefined),
  ],
  [
    'outgoing-version accepts after its cut-over (balancer)',
    (r) => (r.balance ? undefined : String(r.oldPodAcceptsAfterCutOver)),
  ],
  [
    'peak / even rate N/W over the close window used (balancer)',
    (r) => (r.unplanned || r.balance ? undefined : `${r.reconnectsPerSecond.peakOverEven.toFixed(2)}x`),
  ],
  [
    'close window used (real s)',
    (r) => (r.unplanned || r.balance ? undefined : realSeconds(r, r.reconnectsPerSecond.windowSeconds).toFixed(0)),
  ],
  [
    'rollout holds (outcome: pods), longest (real s)',
    (r) =>
      r.holds === null
        ? undefined
        : `${Object.entries(r.holds.outcomes)
            .map(([outcome, pods]) => `${outcome}: ${pods}`)
            .join(', ')}; ${r.holds.longestSeconds.toFixed(0)} s`,
  ],
  ['pods past their grace period', (r) => (r.balance ? undefined : String(r.podsMissingDeadline))],
  [
    'scale-out: real seconds after the new pods were ready until max/mean per pod stayed <= 1.25',
    (r) =>
      r.balance ? (r.balance.secondsToBalance === null ? 'never' : r.balance.secondsToBalance.toFixed(0)) : undefined,
  ],
  [
    'scale-out: connections per pod at the end (max/mean)',
    (r) => (r.balance ? `${r.balance.finalCounts.join(' / ')} (${r.balance.finalRatio.toFixed(2)})` : undefined),
  ],
  [
    'unplanned: peak connection attempts per pod per real second (incl. refused)',
    (r) => (r.unplanned ? String(r.unplanned.peakAcceptsPerPodPerSecond) : undefined),
  ],
  [
    'unplanned: peak upgrades a pod accepted per real second',
    (r) => (r.unplanned ? String(r.unplanned.peakAdmittedPerPodPerSecond) : undefined),
  ],
  [
    "unplanned: survivors' event-loop p99 over the storm (ms)",
    (r) => (r.unplanned ? r.unplanned.loopP99StormMs.toFixed(1) : undefined),
  ],
  [
    'unplanned: worst one-second event-loop p99 of a survivor (ms)',
    (r) => (r.unplanned ? r.unplanned.loopP99Ms.toFixed(1) : undefined),
  ],
  [
    'unplanned: real seconds until every client is back',
    (r) => (r.unplanned ? r.unplanned.secondsUntilAllBack.toFixed(1) : undefined),
  ],
  [
    'unplanned: sessions resumed / started fresh (Baton clients)',
    (r) => (r.unplanned?.resumed == null ? undefined : `${r.unplanned.resumed} / ${r.unplanned.fresh}`),
  ],
];

export function labColumns(results: StrategyResult[]): ReportColumn[] {
  return results.map((r) => ({
    name: r.name,
    figures: r.probe,
    model: r.model,
    extra: Object.fromEntries(LAB_ROWS.map(([label, cell]) => [label, cell(r)])),
    ...(r.balance ? { balance: r.balance.series } : {}),
  }));
}

export function table(results: StrategyResult[]): string {
  return reportTable(labColumns(results));
}

export function labHtmlReport(
  options: { clients: number; replicas: number; timeScale: number },
  results: StrategyResult[],
): string {
  return htmlReport(
    'Baton release lab',
    `${options.clients} clients, ${options.replicas} replicas; the lab ran every duration at ${options.timeScale}× (a real 120 s grace period took ${(120 * options.timeScale).toFixed(0)} s), and reports real seconds.`,
    labColumns(results),
  );
}
