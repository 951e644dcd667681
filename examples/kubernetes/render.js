// @ts-check
// Renders the chart without helm (no helm binary can be installed on this project's machines): the chart's
// templates use plain value substitution only — `{{ .Values.a.b }}`, `{{ .Release.Name }}`,
// `{{ .Chart.AppVersion }}` — which this renderer and helm render identically; anything else in a template
// is an error here, so the two cannot drift apart silently. `node render.js --write` regenerates
// manifests/ from the chart's default values; a test checks the committed manifests are that output.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const chartDir = fileURLToPath(new URL('./chart/', import.meta.url));
const manifestsDir = fileURLToPath(new URL('./manifests/', import.meta.url));

/**
 * @param {{ releaseName?: string, values?: Record<string, unknown> }} [options]
 * @returns {Map<string, string>} template file name -> rendered YAML
 */
export function renderChart(options = {}) {
  const chart = parse(readFileSync(`${chartDir}Chart.yaml`, 'utf8'));
  const values = { ...parse(readFileSync(`${chartDir}values.yaml`, 'utf8')), ...(options.values ?? {}) };
  const scope = {
    Values: values,
    Release: { Name: options.releaseName ?? chart.name },
    Chart: { Name: chart.name, AppVersion: chart.appVersion },
  };
  const rendered = new Map();
  for (const file of readdirSync(`${chartDir}templates`).sort()) {
    const template = readFileSync(`${chartDir}templates/${file}`, 'utf8');
    rendered.set(
      file,
      template.replace(/\{\{(.*?)\}\}/g, (_match, expression) => {
        const path = /^\s*\.((?:Values|Release|Chart)(?:\.[A-Za-z0-9_]+)+)\s*$/.exec(expression);
        if (!path)
          throw new Error(
            `${file}: unsupported template syntax {{${expression}}}; the chart uses plain substitution only`,
          );
        /** @type {unknown} */
        let value = scope;
        for (const key of String(path[1]).split('.')) value = /** @type {Record<string, unknown>} */ (value)?.[key];
        if (value === undefined || value === null || typeof value === 'object') {
          throw new Error(`${file}: {{${expression}}} has no scalar value`);
        }
        return String(value);
      }),
    );
  }
  return rendered;
}

if (process.argv.includes('--write')) {
  for (const [file, yaml] of renderChart())
    writeFileSync(
      `${manifestsDir}${file}`,
      `# Rendered from chart/templates/${file} by render.js; edit the chart, not this file.\n${yaml}`,
    );
  console.log(`rendered ${manifestsDir}`);
}
