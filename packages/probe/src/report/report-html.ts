// The self-contained HTML report of the probe and the lab: the table (rows that apply to no column left
// out), every column's reconnect rate on one chart, and per column its connections per version, its
// reconnects per second against the even rate, and its disconnect histogram. Times in real seconds.

import {
  balanceChart,
  comparisonChart,
  connectionsChart,
  escapeHtml,
  HEIGHT,
  histogramChart,
  PALETTE,
  reconnectsChart,
  versionsOf,
  WIDTH,
} from './charts.js';
import { type ReportColumn, reportRows } from './rows.js';

function resultsTable(columns: ReportColumn[]): string {
  const head = `<thead><tr><th></th>${columns.map((c) => `<th scope="col">${escapeHtml(c.name)}</th>`).join('')}</tr></thead>`;
  const rows = reportRows(columns).map(
    ([label, cells]) =>
      `<tr><th scope="row">${escapeHtml(label)}</th>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`,
  );
  const models = columns.some((c) => c.model)
    ? `<tr><th scope="row">what ran</th>${columns.map((c) => `<td class="model">${escapeHtml(c.model ?? '')}</td>`).join('')}</tr>`
    : '';
  return `<table class="results">${head}<tbody>${rows.join('')}${models}</tbody></table>`;
}

export function htmlReport(title: string, intro: string, columns: ReportColumn[]): string {
  const legend = columns
    .map((c, i) => `<span style="color:${PALETTE[i % PALETTE.length]}">■ ${escapeHtml(c.name)}</span>`)
    .join(' ');
  const comparison =
    columns.length > 1
      ? `<section><h2 class="compare">Reconnect rates compared</h2><p class="legend">${legend}</p>${comparisonChart(columns)}</section>`
      : '';
  const versions = versionsOf(columns.map((c) => c.figures));
  const sections = columns
    .map(
      (c) =>
        `<section><h2>${escapeHtml(c.name)}</h2><div class="charts">${connectionsChart(c.figures, versions)}${reconnectsChart(c.figures)}${histogramChart(c.figures)}${c.balance ? balanceChart(c.balance) : ''}</div></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1b1f24; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { width: ${WIDTH}px; height: ${HEIGHT}px; background: #fafbfc; border: 1px solid #d8dee4; }
.axis { stroke: #8c959f; } .title { font-size: 11px; font-weight: 600; } .tick { font-size: 10px; fill: #57606a; }
.line { fill: none; stroke-width: 2; } .legend { font-size: 11px; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 16px; }
th, td { border: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f6f8; } tbody th { font-weight: 500; background: #fafbfc; } td.model { color: #57606a; }
.inside { fill: #ffffff; }
.bar { fill: #0969da; } .even { stroke: #bf8700; stroke-dasharray: 4 3; stroke-width: 1.5; }
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(intro)}</p>
${resultsTable(columns)}
${comparison}
${sections}
</body></html>
`;
}
