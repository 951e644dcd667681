// The report's inline SVG charts: no scripts, no external assets, so the report opens from a file anywhere.
// Every time axis is in real seconds.

import type { ProbeFigures } from '../figures/summarize.js';

export const WIDTH = 360;
export const HEIGHT = 160;
const PAD = 28;
/** Colours for versions and for the columns of the comparison chart, in order. */
export const PALETTE = ['#cf222e', '#1a7f37', '#0969da', '#8250df', '#bf8700', '#57606a'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

function axes(title: string, maxY: number, maxX: number | undefined, xLabel: string, width = WIDTH): string {
  return (
    `<text x="${PAD}" y="14" class="title">${escapeHtml(title)}</text>` +
    `<line x1="${PAD}" y1="${HEIGHT - PAD}" x2="${width - 8}" y2="${HEIGHT - PAD}" class="axis"/>` +
    `<line x1="${PAD}" y1="24" x2="${PAD}" y2="${HEIGHT - PAD}" class="axis"/>` +
    `<text x="${PAD - 3}" y="30" text-anchor="end" class="tick">${formatY(maxY)}</text>` +
    (maxX === undefined
      ? ''
      : `<text x="${width - 8}" y="${HEIGHT - 10}" text-anchor="end" class="tick">${maxX.toFixed(0)} ${xLabel}</text>`)
  );
}

function formatY(value: number): string {
  return value >= 10 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1);
}

const scaleX = (value: number, max: number, width = WIDTH) => PAD + (value / Math.max(max, 1e-9)) * (width - PAD - 8);
const scaleY = (value: number, max: number) => HEIGHT - PAD - (value / Math.max(max, 1e-9)) * (HEIGHT - PAD - 24);

function linePath(points: [number, number][], maxX: number, maxY: number, width = WIDTH): string {
  return points
    .map(([x, y], i) => `${i ? 'L' : 'M'}${scaleX(x, maxX, width).toFixed(1)},${scaleY(y, maxY).toFixed(1)}`)
    .join('');
}

/** A version's colour, the same in every chart of a report (`versions`: the report's, sorted). */
function colourOf(version: string, versions: string[]): string {
  return PALETTE[Math.max(0, versions.indexOf(version)) % PALETTE.length] as string;
}

/** Every version any column's connections chart shows, sorted: the colour key of the whole report. */
export function versionsOf(figures: ProbeFigures[]): string[] {
  return [...new Set(figures.flatMap((f) => f.connectionsByVersion.flatMap((p) => Object.keys(p.counts))))].sort();
}

/** Open connections per version over time, a line per version. */
export function connectionsChart(f: ProbeFigures, palette: string[] = versionsOf([f])): string {
  const versions = versionsOf([f]);
  const maxX = Math.max(1, ...f.connectionsByVersion.map((p) => p.t));
  const maxY = Math.max(1, ...f.connectionsByVersion.flatMap((p) => Object.values(p.counts)));
  const lines = versions
    .map((version) => {
      const points = f.connectionsByVersion.map((p): [number, number] => [p.t, p.counts[version] ?? 0]);
      const start = f.connectionsByVersion[0]?.counts[version] ?? 0;
      return `<path d="${linePath([[0, start], ...points], maxX, maxY)}" class="line" stroke="${colourOf(version, palette)}"/>`;
    })
    .join('');
  // The legend right-aligned in sorted order: placed from the last version leftwards.
  let x = WIDTH - 8;
  const legend = [...versions]
    .reverse()
    .map((version) => {
      const text = `<text x="${x}" y="14" text-anchor="end" class="legend" fill="${colourOf(version, palette)}">${escapeHtml(version.slice(0, 12))}</text>`;
      x -= 8 + 6 * Math.min(version.length, 12);
      return text;
    })
    .join('');
  return (
    `<svg class="chart connections" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="connections per version">` +
    axes('connections per version', maxY, maxX, 's') +
    lines +
    legend +
    '</svg>'
  );
}

/** Reconnects per real second in each bin, against the even rate (dashed). */
export function reconnectsChart(f: ProbeFigures): string {
  const rates = f.reconnects.perBin.map((n) => n / f.reconnects.binSeconds);
  const even = f.reconnects.evenPerSecond;
  const maxY = Math.max(1, even, ...rates);
  const barWidth = (WIDTH - PAD - 8) / Math.max(1, rates.length);
  const bars = rates
    .map(
      (rate, i) =>
        `<rect x="${(PAD + i * barWidth).toFixed(1)}" y="${scaleY(rate, maxY).toFixed(1)}" width="${Math.max(1, barWidth - 1).toFixed(1)}" height="${(HEIGHT - PAD - scaleY(rate, maxY)).toFixed(1)}" class="bar"/>`,
    )
    .join('');
  const evenLine =
    even > 0
      ? `<line x1="${PAD}" x2="${WIDTH - 8}" y1="${scaleY(even, maxY).toFixed(1)}" y2="${scaleY(even, maxY).toFixed(1)}" class="even"/>`
      : '';
  return (
    `<svg class="chart reconnects" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="reconnects per second">` +
    axes('reconnects per real second (dashed: even)', maxY, rates.length * f.reconnects.binSeconds, 's') +
    bars +
    evenLine +
    '</svg>'
  );
}

/** Clients by app-visible disconnects: 0, 1, 2, 3+. */
export function histogramChart(f: ProbeFigures): string {
  const values = [f.disconnects['0'], f.disconnects['1'], f.disconnects['2'], f.disconnects['3+']];
  const labels = ['0', '1', '2', '3+'];
  const maxY = Math.max(1, ...values);
  const barWidth = (WIDTH - PAD - 8) / 4;
  const bars = values
    .map((count, i) => {
      const top = scaleY(count, maxY);
      const centre = (PAD + i * barWidth + barWidth / 2).toFixed(1);
      return (
        `<rect x="${(PAD + i * barWidth + 6).toFixed(1)}" y="${top.toFixed(1)}" width="${(barWidth - 12).toFixed(1)}" height="${(HEIGHT - PAD - top).toFixed(1)}" class="bar"/>` +
        `<text x="${centre}" y="${HEIGHT - 12}" text-anchor="middle" class="tick">${labels[i]}</text>` +
        // Inside the bar's top when the bar reaches the title's band, above it otherwise.
        `<text x="${centre}" y="${(top < 40 ? top + 12 : top - 3).toFixed(1)}" text-anchor="middle" class="tick${top < 40 ? ' inside' : ''}">${count}</text>`
      );
    })
    .join('');
  return `<svg class="chart histogram" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="disconnects per client">${axes('clients by disconnects', maxY, undefined, '')}${bars}</svg>`;
}

/** Every column's reconnect rate on one chart, a line each, to compare how each spread its reconnects. */
export function comparisonChart(columns: { name: string; figures: ProbeFigures }[]): string {
  const width = WIDTH * 2 + 12;
  const series = columns.map(({ figures: f }) =>
    f.reconnects.perBin.map((n, i): [number, number] => [
      (i + 0.5) * f.reconnects.binSeconds,
      n / f.reconnects.binSeconds,
    ]),
  );
  const maxX = Math.max(1, ...series.flatMap((points) => points.map(([x]) => x)));
  const maxY = Math.max(1, ...series.flatMap((points) => points.map(([, y]) => y)));
  const lines = series
    .map(
      (points, i) =>
        `<path d="${linePath(points, maxX, maxY, width)}" class="line" stroke="${PALETTE[i % PALETTE.length]}"><title>${escapeHtml(columns[i]?.name ?? '')}</title></path>`,
    )
    .join('');
  return (
    `<svg class="chart comparison" viewBox="0 0 ${width} ${HEIGHT}" style="width:${width}px" role="img" aria-label="reconnect rates compared">` +
    axes('reconnects per real second, every run', maxY, maxX, 's', width) +
    lines +
    '</svg>'
  );
}

/** Connections per pod over time: the busiest pod's (solid) and the mean (dashed), from the new pods' readiness. */
export function balanceChart(points: readonly { t: number; max: number; mean: number }[]): string {
  const maxX = Math.max(1, ...points.map((p) => p.t));
  const maxY = Math.max(1, ...points.map((p) => p.max));
  const max = linePath(
    points.map((p): [number, number] => [p.t, p.max]),
    maxX,
    maxY,
  );
  const mean = linePath(
    points.map((p): [number, number] => [p.t, p.mean]),
    maxX,
    maxY,
  );
  return (
    `<svg class="chart balance" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="connections per pod, max and mean">` +
    axes('connections per pod: max (solid), mean (dashed)', maxY, maxX, 's') +
    `<path d="${max}" class="line" stroke="${PALETTE[0]}"/>` +
    `<path d="${mean}" class="line even" stroke="${PALETTE[2]}"/>` +
    '</svg>'
  );
}
