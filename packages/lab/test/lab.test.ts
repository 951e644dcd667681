// The lab's claims, measured on real processes: gateway pods, the balancer, a fleet of real clients.
// Imports the built lab (dist/): its fleet runs in worker processes started from compiled files.

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../../../test/support/chromium.js';
import { reportRows } from '../../probe/dist/index.js';
import {
  defaultDataPath,
  defaultStrategies,
  type LabOptions,
  labColumns,
  labHtmlReport,
  READINESS,
  type ReadinessModel,
  relayStrategies,
  runStrategy,
  type StrategyResult,
  type StrategyRun,
  unplannedStrategies,
} from '../dist/index.js';

const options: LabOptions = { clients: 200, replicas: 4, timeScale: 0.05 };
const strategies = defaultStrategies(options.replicas);
const named = (name: string) => {
  const strategy = strategies.find((s) => s.name === name);
  if (!strategy) throw new Error(`no strategy ${name}`);
  return strategy;
};

/** A rollout with the new pods becoming ready over `readiness`, with or without the rollout hold. */
function staggered(replicas: number, readiness: ReadinessModel, hold: boolean, minWindowShare?: number): StrategyRun {
  return {
    name: `${replicas} pods, ${readiness.kind === 'uniform' ? readiness.spreadMs : 0} ms spread, ${hold ? 'hold' : 'no hold'}`,
    gateway: 'baton',
    clients: 'plain',
    readiness,
    rolloutHold: hold,
    ...(minWindowShare === undefined ? {} : { minWindowShare }),
    strategy: { kind: 'rolling', maxSurge: replicas, maxUnavailable: 0 },
  };
}

// The kernel data path wherever it can run (CI installs what it needs, so there it must be the one).
const dataPath = defaultDataPath();
if (process.env.CI && dataPath !== 'kernel') throw new Error('CI must run the lab on the kernel data path');

/** The lab saw the release, on the data path it should: every client reconnected at least once. */
function sawEveryReconnect(result: StrategyResult, clients: number): void {
  expect(result.dataPath).toBe(dataPath);
  sawEveryReconnectOn(result, clients);
}

/**
 * The probe's figures of the run (@baton/probe's fleet and summary, what `baton-probe release` reports) equal
 * the lab's own accounting: every connection the data path routed to a pod (the balancer's log, or conntrack's
 * on the kernel path) the probe counted as accepted or refused by that pod's version, and none failed; and for
 * plain clients, who are all back at the end, each disconnect is one reconnect.
 */
function probeAgreesWithDataPath(result: StrategyResult): void {
  const { probe } = result;
  expect(result.acceptAudit.probe).toEqual(result.acceptAudit.dataPath);
  expect(probe.failures).toBe(0);
  expect(probe.disconnects).toEqual({
    '0': result.disconnects.zero,
    '1': result.disconnects.one,
    '2': result.disconnects.two,
    '3+': result.disconnects.threeOrMore,
  });
  if (probe.kind === 'plain') {
    // Every app-visible disconnect has its close code.
    const disconnects = Object.values(probe.closeCodes).reduce((sum, n) => sum + n, 0);
    expect(probe.reconnects.total).toBe(disconnects);
  }
}

function sawEveryReconnectOn(result: StrategyResult, clients: number): void {
  // Every accept counted (no event of the kernel's conntrack stream lost), so the rates below are exact.
  expect(result.acceptEventsLost).toBe(0);
  expect(result.series.reconnects.reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(clients);
}

describe('release lab', () => {
  // The hold's staggered-readiness rows: 1,000 plain clients, new pods ready over a quarter of the window or over all of it. Over
  // the whole window the hold can wait only if the window may shrink to what is left: the first and last
  // deletions of seed 1 lie about 70 of 83 real seconds apart, so the hold needs minWindowShare ≤ 1 − 70/83
  // (0.16); 0.05 leaves room for the processes' start-up jitter (0.15 was capped once in 4 runs).
  describe.each([4, 8])('rollout hold, %i replicas, 1,000 clients', (replicas) => {
    it.each([
      ['a quarter of the window', READINESS.quarter, undefined],
      ['the whole window', READINESS.whole, 0.05],
    ] as const)(
      'new pods ready over %s: each client once, no late accept, paced, inside the grace period',
      async (_label, readiness, share) => {
        const result = await runStrategy(staggered(replicas, readiness, true, share), {
          clients: 1000,
          replicas,
          timeScale: 0.1,
          seed: 1,
        });
        sawEveryReconnect(result, 1000);
        expect(result.connectedAtEnd).toBe(1000);
        expect(result.disconnects.max).toBe(1);
        expect(result.disconnects.one).toBe(1000);
        expect(result.oldPodAcceptsAfterCutOver).toBe(0);
        probeAgreesWithDataPath(result);
        expect(result.probe.outgoingReconnectsAfterFirstIncoming).toBe(0);
        expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
        expect(result.podsMissingDeadline).toBe(0);
        expect(result.holds?.outcomes).toEqual({ released: replicas });
      },
    );
  });

  it('without the hold, the same whole-window rollout disconnects clients twice (the negative control)', async () => {
    const result = await runStrategy(staggered(4, READINESS.whole, false), {
      clients: 1000,
      replicas: 4,
      timeScale: 0.1,
      seed: 1,
    });
    sawEveryReconnect(result, 1000);
    expect(result.connectedAtEnd).toBe(1000);
    expect(result.oldPodAcceptsAfterCutOver).toBeGreaterThan(0);
    expect(result.disconnects.two + result.disconnects.threeOrMore).toBeGreaterThan(0);
    expect(result.holds).toBeNull();
    // The probe sees the same failure from the clients' side, and agrees with the data path's count.
    probeAgreesWithDataPath(result);
    expect(result.probe.outgoingReconnectsAfterFirstIncoming).toBeGreaterThan(0);
    expect(result.probe.disconnects['2'] + result.probe.disconnects['3+']).toBeGreaterThan(0);
  });

  it('hold + Baton clients: no app-visible disconnect, no tick lost, one move each', async () => {
    const result = await runStrategy(named('Baton + hold + Baton clients'), options);
    sawEveryReconnect(result, options.clients);
    expect(result.appVisibleDisconnectsOfBatonClients).toBe(0);
    expect(result.ticksLost).toBe(0);
    expect(result.ticksDuplicated).toBe(0);
    expect(result.maxMoves).toBe(1);
    expect(result.oldPodAcceptsAfterCutOver).toBe(0);
    expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
  });

  it('the portable fallback, the Node balancer data path, gives the same row', async () => {
    const result = await runStrategy(named('Baton + hold + Baton clients'), { ...options, dataPath: 'node' });
    expect(result.dataPath).toBe('node');
    expect(result.model).toContain('Node balancer data path');
    sawEveryReconnectOn(result, options.clients);
    expect(result.appVisibleDisconnectsOfBatonClients).toBe(0);
    expect(result.ticksLost).toBe(0);
    expect(result.maxMoves).toBe(1);
    expect(result.oldPodAcceptsAfterCutOver).toBe(0);
    expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
  });

  describe('rollback mid-release', () => {
    // The rollback starts once every pod of the forward release began closing, 40 % of a window later (an
    // event of the run, not a time since the first deletion: the new pods' start-up jitter would otherwise
    // decide whether the rollback overtakes the forward cut-over, and with it which pods hold and how far each
    // client moves). Every client is then moved by the forward drain, and the ones it sent to v2 once more by
    // the rollback's: once per direction, never more. At the demo's time scale (0.1).
    const rollbackOptions: LabOptions = { ...options, timeScale: 0.1 };
    const rollbackRow = named('Baton + hold + Baton clients, rollback mid-release');

    it('Baton clients: no app-visible disconnect, no tick lost, each moved once per direction at most', async () => {
      const result = await runStrategy(rollbackRow, rollbackOptions);
      expect(result.appVisibleDisconnectsOfBatonClients).toBe(0);
      expect(result.ticksLost).toBe(0);
      expect(result.minMoves).toBeGreaterThanOrEqual(1);
      expect(result.maxMoves).toBeLessThanOrEqual(2);
    });

    it('plain clients: each disconnected once or twice, never three times', async () => {
      const result = await runStrategy(
        { ...rollbackRow, name: 'rollback, plain clients', clients: 'plain' },
        rollbackOptions,
      );
      expect(result.connectedAtEnd).toBe(options.clients);
      expect(result.disconnects.zero).toBe(0);
      expect(result.disconnects.two).toBeGreaterThan(0);
      expect(result.disconnects.threeOrMore).toBe(0);
      expect(result.maxMoves).toBe(2);
    });
  });

  it('an HPA scale-out 2 -> 4 with rebalancing (20 s): balanced within the horizon, nobody disconnected, no tick lost, one move at most', async () => {
    // Time scale 1: the move rates and the fleet's readings are real-world.
    const result = await runStrategy(
      {
        name: 'scale-out 2 -> 4, Baton clients, rebalancing 20 s',
        gateway: 'baton',
        clients: 'baton',
        rebalanceSeconds: 20,
        strategy: { kind: 'hpa-scale-out', to: 4, observeMs: 30_000 },
      },
      { clients: 400, replicas: 2, timeScale: 1, seed: 1 },
    );
    expect(result.dataPath).toBe(dataPath);
    const balance = result.balance as NonNullable<StrategyResult['balance']>;
    expect(balance.finalCounts).toHaveLength(4);
    expect(balance.secondsToBalance).not.toBeNull();
    expect(balance.secondsToBalance as number).toBeLessThanOrEqual(20);
    expect(balance.finalRatio).toBeLessThanOrEqual(1.25);
    // The new pods took their share by moves alone: no client saw a close, each moved once at most.
    expect(result.appVisibleDisconnectsOfBatonClients).toBe(0);
    expect(result.ticksLost).toBe(0);
    expect(result.maxMoves).toBe(1);
    expect(result.connectedAtEnd).toBe(400);
  });

  describe('plain clients behind @baton/relay (1,000 clients)', () => {
    const relayOptions: LabOptions = { clients: 1000, replicas: 4, timeScale: 0.1, seed: 1 };
    const relayRows = relayStrategies(relayOptions.replicas);
    const relayRow = (name: string) => relayRows.find((row) => row.name === name) as StrategyRun;

    it('a gateway release disconnects nobody: every upstream moved, ticks contiguous (id field)', async () => {
      const result = await runStrategy(relayRow('gateway released behind the relay, hold'), relayOptions);
      // The balancer saw every relayed connection arrive again (the relay's upstream moves)...
      sawEveryReconnect(result, 1000);
      // ...and no client noticed.
      expect(result.disconnects.zero).toBe(1000);
      expect(result.sessionsTracked).toBe(true);
      expect(result.ticksLost).toBe(0);
      expect(result.ticksDuplicated).toBe(0);
      expect(result.connectedAtEnd).toBe(1000);
    });

    it("the relay's own release: each client once, paced", async () => {
      const result = await runStrategy(relayRow('the relay itself released, hold'), relayOptions);
      sawEveryReconnect(result, 1000);
      expect(result.disconnects.one).toBe(1000);
      expect(result.disconnects.max).toBe(1);
      expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
      expect(result.holds?.outcomes).toEqual({ released: 4 });
    });
  });

  it('a node lost (two pods SIGKILLed): admission control holds each survivor at its cap; Baton clients resume from checkpoints', async () => {
    // 1,000 clients: a lost node's 500 reach the survivors at about 60 upgrades per pod per real second, so the
    // test's cap is 30/s (burst 10) to be in play; the guide's rows run 5,000 clients against 100/s.
    const [, , withoutCap, withCap, batonRow] = unplannedStrategies(30, 10);
    const crashOptions: LabOptions = { clients: 1000, replicas: 4, timeScale: 0.1, seed: 1 };
    const capped = await runStrategy(withCap as StrategyRun, crashOptions);
    sawEveryReconnect(capped, 500);
    expect(capped.connectedAtEnd).toBe(1000);
    // Each pod held a quarter: the two crashed pods' clients, and nobody else, were disconnected, once.
    expect(capped.disconnects.one).toBeGreaterThanOrEqual(450);
    expect(capped.disconnects.one).toBeLessThanOrEqual(550);
    expect(capped.disconnects.max).toBe(1);
    // The cap (30 real accepts/s) plus the burst (10), in any real second, on every pod.
    expect(capped.unplanned?.peakAdmittedPerPodPerSecond).toBeLessThanOrEqual(40);
    expect(capped.unplanned?.peakAdmittedPerPodPerSecond).toBeGreaterThan(0);
    // The survivors' loop lines reached the lab with their distributions (a delay beyond the resolution is > 0).
    expect(capped.unplanned?.loopP99StormMs).toBeGreaterThan(0);
    const uncapped = await runStrategy(withoutCap as StrategyRun, crashOptions);
    expect(uncapped.connectedAtEnd).toBe(1000);
    // The negative control: without the cap the storm's first second goes over it.
    expect(uncapped.unplanned?.peakAdmittedPerPodPerSecond).toBeGreaterThan(
      capped.unplanned?.peakAdmittedPerPodPerSecond as number,
    );
    const baton = await runStrategy(
      { ...(batonRow as StrategyRun), strategy: { kind: 'crash', pods: 2 } },
      crashOptions,
    );
    expect(baton.connectedAtEnd).toBe(1000);
    const { resumed, fresh } = baton.unplanned as { resumed: number; fresh: number };
    expect(resumed + fresh).toBeGreaterThanOrEqual(450);
    expect(resumed / (resumed + fresh)).toBeGreaterThan(0.9);
  });

  it('reports the naive strategy as it behaves, and renders the HTML report with its charts in Chromium', {
    timeout: 120_000,
  }, async () => {
    // Self-contained (no result of another test): the naive gateway, the baseline every Baton row must beat,
    // and the Baton row it is compared with, run here.
    const naive = await runStrategy(named('naive close-all, RollingUpdate 25%'), options);
    const baton = await runStrategy(named('Baton + hold + Baton clients'), options);
    const results = [naive, baton];
    sawEveryReconnect(naive, options.clients);
    sawEveryReconnect(baton, options.clients);
    expect(naive.disconnects.two + naive.disconnects.threeOrMore).toBeGreaterThan(0);
    // It scores worse than the Baton row on what the lab exists to show: the reconnect peak against the even
    // rate, and clients disconnected (app-visibly) more than once.
    const ratio = (result: StrategyResult) => result.reconnectsPerSecond.peak / result.reconnectsPerSecond.evenRate;
    expect(ratio(naive)).toBeGreaterThan(ratio(baton));
    expect(baton.disconnects.two + baton.disconnects.threeOrMore).toBe(0);
    const file = join(tmpdir(), `baton-lab-report-${process.pid}.html`);
    writeFileSync(file, labHtmlReport(options, results));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`file://${file}`);
      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => ({
          kind: svg.getAttribute('class'),
          width: svg.getBoundingClientRect().width,
          marks: svg.querySelectorAll('path.line, rect.bar').length,
        })),
      );
      // Three charts per strategy, and one that puts every strategy's reconnect rate side by side.
      expect(charts).toHaveLength(results.length * 3 + 1);
      for (const chart of charts) {
        expect(chart.width).toBeGreaterThan(100);
        expect(chart.marks).toBeGreaterThan(0);
      }
      const comparison = await page.$$eval('svg.comparison path.line', (paths) => paths.length);
      expect(comparison).toBe(results.length);
      // The table is a table: a header per strategy and a row per measure that applies (plus the model row);
      // no row is all dashes (the unplanned rows of planned releases are left out).
      const table = await page.$eval('table.results', (element) => ({
        columns: element.querySelectorAll('thead th').length,
        rows: [...element.querySelectorAll('tbody tr')].map((row) =>
          [...row.querySelectorAll('td')].map((cell) => cell.textContent),
        ),
      }));
      expect(table.columns).toBe(results.length + 1);
      expect(table.rows).toHaveLength(reportRows(labColumns(results)).length + 1);
      expect(table.rows.filter((cells) => cells.every((cell) => cell === '-'))).toEqual([]);
      const labels = await page.$$eval('table.results tbody th', (cells) => cells.map((cell) => cell.textContent));
      expect(labels.filter((label) => label?.startsWith('unplanned'))).toEqual([]);
      // Times in real seconds: each run took a compressed 120 s grace period, so well over its lab seconds.
      const measured = await page.$$eval('tbody tr', (rows) =>
        rows
          .filter((row) => row.querySelector('th')?.textContent === 'measured for (real s)')
          .flatMap((row) => [...row.querySelectorAll('td')].map((cell) => Number(cell.textContent))),
      );
      expect(measured).toHaveLength(results.length);
      for (const [i, seconds] of measured.entries())
        expect(seconds).toBeCloseTo((results[i] as StrategyResult).durationSeconds / options.timeScale, -1);
      // No two labels of one chart overlap.
      const overlaps = await page.$$eval('svg.chart', (svgs) =>
        svgs.flatMap((svg) => {
          const boxes = [...svg.querySelectorAll('text')].map((text) => ({
            text: text.textContent,
            box: text.getBoundingClientRect(),
          }));
          const found: string[] = [];
          for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
              const [a, b] = [boxes[i]!.box, boxes[j]!.box];
              if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
                found.push(`${svg.getAttribute('aria-label')}: "${boxes[i]!.text}" over "${boxes[j]!.text}"`);
              }
            }
          }
          return found;
        }),
      );
      expect(overlaps).toEqual([]);
      const headings = await page.$$eval('h2', (h) => h.map((e) => e.textContent));
      expect(headings).toEqual(['Reconnect rates compared', ...results.map((r) => r.name)]);
      const screenshot = await page.screenshot({
        path: join(tmpdir(), `baton-lab-report-${process.pid}.png`),
        fullPage: true,
      });
      expect(screenshot.length).toBeGreaterThan(20_000);
    } finally {
      await browser.close();
    }
  });
});
