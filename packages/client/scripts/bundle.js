// Browser build of @baton/client: one minified ESM file (dist/baton-client.min.js), and its size. The
// client must stay small enough to ship in every page: goal <= 4 KB min+gzip. Fails if it grows past it,
// or if a node: import sneaks into the browser build.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const GOAL_BYTES = 4096;
const root = fileURLToPath(new URL('..', import.meta.url));
const result = await build({
  entryPoints: [`${root}dist/index.js`],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  metafile: true,
});
const code = result.outputFiles[0].contents;
const nodeImports = Object.keys(result.metafile.inputs).filter((input) => input.startsWith('node:'));
if (nodeImports.length > 0) throw new Error(`node: imports in the browser build: ${nodeImports.join(', ')}`);
writeFileSync(`${root}dist/baton-client.min.js`, code);
const gzipped = gzipSync(code, { level: 9 }).length;
const line = { minifiedBytes: code.length, gzippedBytes: gzipped, goalBytes: GOAL_BYTES };
console.log(`@baton/client browser build: ${code.length} B minified, ${gzipped} B min+gzip (goal <= ${GOAL_BYTES})`);
if (process.argv.includes('--json')) console.log(JSON.stringify(line));
if (gzipped > GOAL_BYTES) {
  console.error(`@baton/client grew past ${GOAL_BYTES} B min+gzip`);
  process.exit(1);
}
