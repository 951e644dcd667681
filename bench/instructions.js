// `pnpm bench:instructions`: instructions per fastify request with and without @baton/fastify-plugin,
// counted by valgrind's callgrind, so a 2 % goal can be checked on a machine whose wall-clock and CPU-time
// figures swing far more than that. For each variant: one run with 0 counted requests and one with N; the
// difference over N is the per-request cost (start-up and warm-up cancel out).
//
// Needs valgrind (present on this project's machines). Takes a few minutes: node runs ~50x slower under it.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const requests = Number(process.env.BENCH_INSTRUCTION_REQUESTS ?? 6000);
const script = fileURLToPath(new URL('./lib/fastify-instructions.js', import.meta.url));

function instructions(variant, count) {
  const out = join(tmpdir(), `baton-callgrind.${variant}.${count}.${process.pid}`);
  execFileSync(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, script, variant, String(count)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const summary = readFileSync(out, 'utf8').match(/^summary: (\d+)/m);
  if (!summary) throw new Error(`no callgrind summary in ${out}`);
  return Number(summary[1]);
}

const perRequest = {};
for (const variant of ['bare', 'baton']) {
  const base = instructions(variant, 0);
  const loaded = instructions(variant, requests);
  perRequest[variant] = (loaded - base) / requests;
  process.stderr.write(`  ${variant}: ${base} instructions idle, ${loaded} with ${requests} requests\n`);
}
console.log(
  `fastify HTTP instructions per request: bare ${perRequest.bare.toFixed(0)}, with @baton/fastify-plugin ${perRequest.baton.toFixed(0)}, ` +
    `throughput ratio ${(perRequest.bare / perRequest.baton).toFixed(3)} (goal >= 0.98)`,
);
