// What `baton-probe check` prints: a table for people (one line per finding, failures first), or JSON for
// machines; and whether it passed (no error-severity rule failed).

import type { Finding } from './rules.js';

export interface CheckReport {
  readonly passed: boolean;
  readonly workloads: string[];
  readonly findings: Finding[];
}

export function checkReport(workloads: string[], findings: Finding[]): CheckReport {
  const passed = workloads.length > 0 && !findings.some((f) => f.outcome === 'fail' && f.severity === 'error');
  return { passed, workloads, findings };
}

const LABEL: Record<string, string> = { error: 'FAIL', warning: 'WARN' };

export function checkTable(report: CheckReport): string {
  if (report.workloads.length === 0) {
    return 'No Baton workload found: no Deployment or Rollout has a container with BATON_* settings or a baton-drain preStop.';
  }
  const order = (f: Finding) =>
    f.outcome === 'fail' ? (f.severity === 'error' ? 0 : 1) : f.outcome === 'skip' ? 3 : 2;
  const rows = [...report.findings]
    .sort((a, b) => order(a) - order(b))
    .map((f) => [
      f.outcome === 'fail' ? (LABEL[f.severity] ?? 'FAIL') : f.outcome === 'pass' ? 'ok' : 'skip',
      f.rule,
      f.object,
      f.detail,
    ]);
  const widths = [4, 0, 0].map((min, column) => Math.max(min, ...rows.map((row) => (row[column] ?? '').length)));
  const lines = rows.map((row) =>
    row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column] as number) : cell)).join('  '),
  );
  const failed = report.findings.filter((f) => f.outcome === 'fail');
  const guides = [...new Set(failed.map((f) => `  ${f.rule}: ${f.guide}`))];
  const verdict = report.passed
    ? `passed: ${report.workloads.join(', ')}${failed.length > 0 ? ` (${failed.length} warning(s))` : ''}`
    : `failed: ${failed.filter((f) => f.severity === 'error').length} error(s) in ${report.workloads.join(', ')}`;
  return [...lines, '', verdict, ...(guides.length > 0 ? ['how to fix:', ...guides] : [])].join('\n');
}
