// The lab's claims, measured on real processes: gateway pods, the balancer, a fleet of real clients.
// Imports the built lab (dist/): its fleet runs in worker processes started from compiled files.

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../../../test/support/chromium.js';
import { defaultStrategies, htmlReport, type LabOptions, runStrategy, type StrategyResult } from '../dist/index.js';

const options: LabOptions = { clients: 200, replicas: 4, timeScale: 0.05 };
const strategies = defaultStrategies(options.replicas);
const named = (name: string) => {
  const strategy = strategies.find((s) => s.name === name);
  if (!strategy) throw new Error(`no strategy ${name}`);
  return strategy;
};
const results: StrategyResult[] = [];

describe('release lab', () => {
  it('maxSurge 100% + Baton: nobody disconnected twice, no v1 accept after cut-over, reconnects near the even rate', async () => {
    const result = await runStrategy(named('Baton, maxSurge 100%'), options);
    results.push(result);
    expect(result.connectedAtEnd).toBe(options.clients);
    expect(result.disconnects.max).toBe(1);
    expect(result.disconnects.one).toBe(options.clients);
    expect(result.oldPodAcceptsAfterCutOver).toBe(0);
    expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
    expect(result.podsMissingDeadline).toBe(0);
  });

  it('maxSurge 100% + Baton clients: no app-visible disconnect, no tick lost', async () => {
    const result = await runStrategy(named('Baton + Baton clients, maxSurge 100%'), options);
    results.push(result);
    expect(result.appVisibleDisconnectsOfBatonClients).toBe(0);
    expect(result.ticksLost).toBe(0);
    expect(result.ticksDuplicated).toBe(0);
    expect(result.maxMoves).toBe(1);
    expect(result.oldPodAcceptsAfterCutOver).toBe(0);
    expect(result.reconnectsPerSecond.peak).toBeLessThanOrEqual(1.3 * result.reconnectsPerSecond.evenRate);
  });

  it('rollback mid-release: each client moves at most once per direction', async () => {
    const batonClients = await runStrategy(named('Baton + Baton clients, 100%, rollback mid-release'), options);
    results.push(batonClients);
    expect(batonClients.appVisibleDisconnectsOfBatonClients).toBe(0);
    expect(batonClients.maxMoves).toBeLessThanOrEqual(2);
    const plain = await runStrategy(
      {
        ...named('Baton + Baton clients, 100%, rollback mid-release'),
        name: 'rollback, plain clients',
        clients: 'plain',
      },
      options,
    );
    expect(plain.connectedAtEnd).toBe(options.clients);
    expect(plain.maxMoves).toBeLessThanOrEqual(2);
  });

  it('reports the naive strategy as it behaves, and renders the HTML report with its charts in Chromium', async () => {
    // No assertion that naive is bad: it is reported, and the report must show it.
    results.push(await runStrategy(named('naive close-all, RollingUpdate 25%'), options));
    const file = join(tmpdir(), `baton-lab-report-${process.pid}.html`);
    writeFileSync(file, htmlReport(options, results));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`file://${file}`);
      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => ({
          kind: svg.getAttribute('class'),
          width: svg.getBoundingClientRect().width,
          marks: svg.querySelectorAll('path.v1, path.v2, rect.bar').length,
        })),
      );
      expect(charts).toHaveLength(results.length * 3);
      for (const chart of charts) {
        expect(chart.width).toBeGreaterThan(100);
        expect(chart.marks).toBeGreaterThan(0);
      }
      const headings = await page.$$eval('h2', (h) => h.map((e) => e.textContent));
      expect(headings).toEqual(results.map((r) => r.name));
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
