// The lab's self-contained HTML report: the table, and per strategy three inline SVG charts — connections per
// version over time, reconnects per second against the even rate, and the disconnect histogram. No scripts,
// no external assets: it opens from a file anywhere.

import type { StrategyResult } from '../run/run-strategy.js';
import { ROWS } from './table.js';

const WIDTH = 360;
const HEIGHT = 160;
const PAD = 28;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

/** Title, axes, the y maximum right-aligned left of the axis, and (for time charts) the x extent. */
function axes(title: string, maxY: number, maxX: number | undefined, xLabel: string): string {
  return (
    `<text x="${PAD}" y="14" class="title">${escapeHtml(title)}</text>` +
    `<line x1="${PAD}" y1="${HEIGHT - PAD}" x2="${WIDTH - 8}" y2="${HEIGHT - PAD}" class="axis"/>` +
    `<line x1="${PAD}" y1="24" x2="${PAD}" y2="${HEIGHT - PAD}" class="axis"/>` +
    `<text x="${PAD - 3}" y="30" text-anchor="end" class="tick">${maxY}</text>` +
    (maxX === undefined
      ? ''
      : `<text x="${WIDTH - 8}" y="${HEIGHT - 10}" text-anchor="end" class="tick">${maxX.toFixed(0)} ${xLabel}</text>`)
  );
}

function scaleX(value: number, max: number): number {
  return PAD + (value / Math.max(max, 1e-9)) * (WIDTH - PAD - 8);
}

function scaleY(value: number, max: number): number {
  return HEIGHT - PAD - (value / Math.max(max, 1)) * (HEIGHT - PAD - 24);
}

function connectionsChart(result: StrategyResult): string {
  const points = result.series.connections;
  const maxX = Math.max(1, ...points.map((p) => p.t));
  const maxY = Math.max(1, ...points.map((p) => Math.max(p.v1, p.v2)));
  const path = (key: 'v1' | 'v2') =>
    points.map((p, i) => `${i ? 'L' : 'M'}${scaleX(p.t, maxX).toFixed(1)},${scaleY(p[key], maxY).toFixed(1)}`).join('');
  return (
    `<svg class="chart connections" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="connections per version">` +
    axes('connections per version', maxY, maxX, 's') +
    `<path d="${path('v1')}" class="v1"/><path d="${path('v2')}" class="v2"/>` +
    `<text x="${WIDTH - 40}" y="14" class="v1t">v1</text><text x="${WIDTH - 20}" y="14" class="v2t">v2</text></svg>`
  );
}

function reconnectsChart(result: StrategyResult): string {
  const bins = result.series.reconnects;
  const even = result.reconnectsPerSecond.evenRate;
  const maxY = Math.max(1, even, ...bins);
  const barWidth = (WIDTH - PAD - 8) / Math.max(1, bins.length);
  const bars = bins
    .map(
      (count, i) =>
        `<rect x="${(PAD + i * barWidth).toFixed(1)}" y="${scaleY(count, maxY).toFixed(1)}" width="${Math.max(1, barWidth - 1).toFixed(1)}" height="${(HEIGHT - PAD - scaleY(count, maxY)).toFixed(1)}" class="bar"/>`,
    )
    .join('');
  return (
    `<svg class="chart reconnects" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="reconnects per second">` +
    axes('reconnects per second (dashed: even rate)', Math.round(maxY), bins.length, 's') +
    bars +
    `<line x1="${PAD}" x2="${WIDTH - 8}" y1="${scaleY(even, maxY).toFixed(1)}" y2="${scaleY(even, maxY).toFixed(1)}" class="even"/></svg>`
  );
}

function histogramChart(result: StrategyResult): string {
  const d = result.disconnects;
  const values = [d.zero, d.one, d.two, d.threeOrMore];
  const labels = ['0', '1', '2', '3+'];
  const maxY = Math.max(1, ...values);
  const barWidth = (WIDTH - PAD - 8) / 4;
  const bars = values
    .map(
      (count, i) =>
        `<rect x="${(PAD + i * barWidth + 6).toFixed(1)}" y="${scaleY(count, maxY).toFixed(1)}" width="${(barWidth - 12).toFixed(1)}" height="${(HEIGHT - PAD - scaleY(count, maxY)).toFixed(1)}" class="bar"/>` +
        `<text x="${(PAD + i * barWidth + barWidth / 2).toFixed(1)}" y="${HEIGHT - 12}" text-anchor="middle" class="tick">${labels[i]}</text>` +
        // Inside the bar's top when the bar reaches the title's band, above it otherwise.
        `<text x="${(PAD + i * barWidth + barWidth / 2).toFixed(1)}" y="${(scaleY(count, maxY) < 40 ? scaleY(count, maxY) + 12 : scaleY(count, maxY) - 3).toFixed(1)}" text-anchor="middle" class="tick${scaleY(count, maxY) < 40 ? ' inside' : ''}">${count}</text>`,
    )
    .join('');
  return `<svg class="chart histogram" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="disconnects per client">${axes('clients by disconnects', maxY, undefined, '')}${bars}</svg>`;
}

function resultsTable(results: StrategyResult[]): string {
  const head = `<thead><tr><th></th>${results.map((r) => `<th scope="col">${escapeHtml(r.name)}</th>`).join('')}</tr></thead>`;
  const rows = ROWS.map(
    ([label, cell]) =>
      `<tr><th scope="row">${escapeHtml(label)}</th>${results.map((r) => `<td>${escapeHtml(cell(r))}</td>`).join('')}</tr>`,
  );
  const model = `<tr><th scope="row">model</th>${results.map((r) => `<td class="model">${escapeHtml(r.model)}</td>`).join('')}</tr>`;
  return `<table class="results">${head}<tbody>${rows.join('')}${model}</tbody></table>`;
}

export function htmlReport(
  options: { clients: number; replicas: number; timeScale: number },
  results: StrategyResult[],
): string {
  const sections = results
    .map(
      (result) =>
        `<section><h2>${escapeHtml(result.name)}</h2><div class="charts">${connectionsChart(result)}${reconnectsChart(result)}${histogramChart(result)}</div></section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Baton release lab</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1b1f24; }
pre { background: #f4f6f8; padding: 12px; overflow-x: auto; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { width: ${WIDTH}px; height: ${HEIGHT}px; background: #fafbfc; border: 1px solid #d8dee4; }
.axis { stroke: #8c959f; } .title { font-size: 11px; font-weight: 600; } .tick { font-size: 10px; fill: #57606a; }
.v1 { fill: none; stroke: #cf222e; stroke-width: 2; } .v2 { fill: none; stroke: #1a7f37; stroke-width: 2; }
.v1t { fill: #cf222e; font-size: 11px; } .v2t { fill: #1a7f37; font-size: 11px; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 16px; }
th, td { border: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f6f8; } tbody th { font-weight: 500; background: #fafbfc; } td.model { color: #57606a; }
.inside { fill: #ffffff; }
.bar { fill: #0969da; } .even { stroke: #bf8700; stroke-dasharray: 4 3; stroke-width: 1.5; }
</style></head><body>
<h1>Baton release lab</h1>
<p>${options.clients} clients, ${options.replicas} replicas, time scale ${options.timeScale} (every duration of a real 120 s grace period multiplied by it).</p>
${resultsTable(results)}
${sections}
</body></html>
`;
}
