// The lab's report: a terminal table, side by side per strategy.

import type { StrategyResult } from '../run/run-strategy.js';

/** The report's rows: a label and how to print one strategy's cell. The terminal and HTML tables share them. */
export const ROWS: readonly [string, (r: StrategyResult) => string][] = [
  [
    'clients disconnected 0 / 1 / 2 / 3+ times',
    (r) => `${r.disconnects.zero} / ${r.disconnects.one} / ${r.disconnects.two} / ${r.disconnects.threeOrMore}`,
  ],
  ['most disconnects of one client', (r) => String(r.disconnects.max)],
  ['most moves of one client (disconnects + Baton moves)', (r) => String(r.maxMoves)],
  ['share disconnected more than once', (r) => `${(r.disconnects.shareMoreThanOnce * 100).toFixed(1)} %`],
  [
    'app-visible disconnects (Baton clients)',
    (r) => (r.appVisibleDisconnectsOfBatonClients === null ? '-' : String(r.appVisibleDisconnectsOfBatonClients)),
  ],
  [
    'ticks lost / duplicated (Baton clients, or clients through the relay)',
    (r) => (r.sessionsTracked ? `${r.ticksLost} / ${r.ticksDuplicated}` : '-'),
  ],
  ['outgoing-version accepts after cut-over', (r) => String(r.oldPodAcceptsAfterCutOver)],
  [
    'reconnects/s: peak, p99 (even rate N/W)',
    (r) => `${r.reconnectsPerSecond.peak}, ${r.reconnectsPerSecond.p99} (${r.reconnectsPerSecond.evenRate.toFixed(1)})`,
  ],
  ['peak / even rate', (r) => `${r.reconnectsPerSecond.peakOverEven.toFixed(2)}x`],
  ['close window used (lab s)', (r) => r.reconnectsPerSecond.windowSeconds.toFixed(1)],
  [
    'rollout holds (outcome: pods), longest (real s)',
    (r) =>
      r.holds === null
        ? '-'
        : `${Object.entries(r.holds.outcomes)
            .map(([outcome, pods]) => `${outcome}: ${pods}`)
            .join(', ')}; ${r.holds.longestSeconds.toFixed(0)} s`,
  ],
  ['time to complete', (r) => `${r.durationSeconds.toFixed(1)} s`],
  ['pods past their grace period', (r) => String(r.podsMissingDeadline)],
  [
    'unplanned: peak connection attempts per pod per real second (incl. refused)',
    (r) => (r.unplanned ? String(r.unplanned.peakAcceptsPerPodPerSecond) : '-'),
  ],
  [
    'unplanned: peak upgrades a pod accepted per real second',
    (r) => (r.unplanned ? String(r.unplanned.peakAdmittedPerPodPerSecond) : '-'),
  ],
  [
    "unplanned: survivors' event-loop p99 over the storm (ms)",
    (r) => (r.unplanned ? r.unplanned.loopP99StormMs.toFixed(1) : '-'),
  ],
  [
    'unplanned: worst one-second event-loop p99 of a survivor (ms)',
    (r) => (r.unplanned ? r.unplanned.loopP99Ms.toFixed(1) : '-'),
  ],
  [
    'unplanned: real seconds until every client is back',
    (r) => (r.unplanned ? r.unplanned.secondsUntilAllBack.toFixed(1) : '-'),
  ],
  [
    'unplanned: sessions resumed / started fresh (Baton clients)',
    (r) => (r.unplanned?.resumed == null ? '-' : `${r.unplanned.resumed} / ${r.unplanned.fresh}`),
  ],
];

export function table(results: StrategyResult[]): string {
  const header = ['', ...results.map((r) => r.name)];
  const body = ROWS.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => String(row[i]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ');
  const models = results.map((r, i) => `  [${i + 1}] ${r.name}: ${r.model}`);
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line), '', 'models:', ...models].join(
    '\n',
  );
}
