// The report as a terminal table, a column per run (a probe's, or each of the lab's strategies).

import { type ReportColumn, reportRows } from './rows.js';

export function reportTable(columns: ReportColumn[]): string {
  const header = ['', ...columns.map((c) => c.name)];
  const body = reportRows(columns).map(([label, cells]) => [label, ...cells]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => String(row[i]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ');
  const models = columns.flatMap((c, i) => (c.model ? [`  [${i + 1}] ${c.name}: ${c.model}`] : []));
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('-|-'),
    ...body.map(line),
    ...(models.length ? ['', 'what ran:', ...models] : []),
  ].join('\n');
}
