// The dashboard and the alerts of the Kubernetes kit name only metrics a running gateway serves, and every
// PromQL expression in them parses with Prometheus's own PromQL grammar (@prometheus-io/lezer-promql).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { budgetEnv, type GatewayProcess, startGateway } from '../packages/lab/src/harness/index.js';
import { helmPath } from '../scripts/install-helm.mjs';
import { TEST_HANDOFF_KEYS } from './support/secrets.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const chart = join(root, 'examples/kubernetes/chart');

interface Expression {
  where: string;
  expr: string;
}

/** Metric names (the identifiers of vector selectors) of a PromQL expression, and whether it parsed cleanly. */
function analyse(expr: string): { errors: number; metrics: string[] } {
  let errors = 0;
  const metrics: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors++;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        metrics.push(expr.slice(node.from, node.to));
      }
    },
  });
  return { errors, metrics };
}

const dashboard = JSON.parse(readFileSync(join(chart, 'files/dashboard.json'), 'utf8'));
const dashboardExpressions: Expression[] = dashboard.panels.flatMap(
  (panel: { title: string; targets: { expr: string }[] }) =>
    panel.targets.map((target) => ({ where: `dashboard: ${panel.title}`, expr: target.expr })),
);
let alertExpressions: Expression[] = [];
let gateway: GatewayProcess;
let served: Set<string>;

beforeAll(async () => {
  // The alerts as the chart renders them (their thresholds come from the drain budget).
  const { stdout } = await run(helmPath('4.1.4'), [
    'template',
    'ws-gateway',
    chart,
    '-f',
    join(chart, 'ci/argo-values.yaml'),
  ]);
  const rule = parseAllDocuments(stdout)
    .map((doc) => doc.toJS())
    .find((doc) => doc?.kind === 'PrometheusRule');
  alertExpressions = rule.spec.groups.flatMap((group: { rules: { alert: string; expr: string }[] }) =>
    group.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  );
  gateway = await startGateway(join(root, 'examples/ws-gateway/server.js'), {
    ...budgetEnv({ gracePeriodMs: 10_000, propagationDelayMs: 500, closeTimeoutMs: 1_000, safetyMarginMs: 1_000 }),
    BATON_HANDOFF_KEYS: TEST_HANDOFF_KEYS,
    // On, as the chart has it by default (a fleet of one here: the rebalance metrics are served, nothing moves).
    BATON_REBALANCE_SECONDS: '60',
    BATON_REBALANCE_PEERS: 'http://127.0.0.1:1',
  });
  const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  served = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] as string));
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
});

describe('dashboard and alerts', () => {
  it('has the alerts the runbook documents, and the panels operators asked for', () => {
    expect(alertExpressions.map((e) => e.where)).toEqual([
      'alert BatonDrainOverran',
      'alert BatonPodExitedWithConnections',
      'alert BatonResumeFailures',
      'alert BatonForcedTerminations',
    ]);
    const operations = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    for (const { where } of alertExpressions) expect(operations).toContain(`### ${where.replace('alert ', '')}`);
    const titles = dashboard.panels.map((panel: { title: string }) => panel.title.toLowerCase()).join(' | ');
    for (const topic of [
      'per version',
      'drain phase',
      'against the plan',
      'hints',
      'resumes',
      'refused upgrades',
      'hold',
      'rebalancing',
    ]) {
      expect(titles).toContain(topic);
    }
  });

  it('parses every PromQL expression with the PromQL grammar (and the parser does reject a broken one)', () => {
    expect(analyse('sum(rate(baton_connections[1m])) /').errors).toBeGreaterThan(0);
    for (const { where, expr } of [...dashboardExpressions, ...alertExpressions]) {
      expect(analyse(expr).errors, `${where}: ${expr}`).toBe(0);
    }
  });

  it("names only metrics a running gateway's /metrics serves", () => {
    expect(served.size).toBeGreaterThan(5);
    const named = new Set([...dashboardExpressions, ...alertExpressions].flatMap(({ expr }) => analyse(expr).metrics));
    expect(named.size).toBeGreaterThanOrEqual(8);
    for (const metric of named) expect(served, metric).toContain(metric);
  });
});
