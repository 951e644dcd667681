#!/usr/bin/env node
// Do the fast tests catch the regressions that matter? Each mutation below breaks one promise of the drain
// the way a plausible bug would. This script copies the working tree to a temporary folder (the original is
// never touched), applies one mutation at a time there, rebuilds, runs the fast suite (drain-core, the
// fastify plugin, the client) and reports which tests failed. A mutation that no test catches is a hole in
// the suite: the script exits 1.
//
//   pnpm mutation            every mutation
//   pnpm mutation close-all  only the named ones

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const FAST_SUITE = ['packages/drain-core/test', 'packages/fastify-plugin/test', 'packages/client/test'];

/** name → the file, the exact text it replaces, the replacement, and the promise it breaks. */
const MUTATIONS = {
  'close-all': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: 'offsets[i] = now + (offsets[i] as number);',
    to: 'offsets[i] = now;',
    breaks: 'closes are spread over the window (every connection closed at once instead)',
  },
  'no-propagation-delay': {
    file: 'packages/drain-core/src/rollout-hold.ts',
    from: 'const propagatedAt = triggeredAt + budget.propagationDelayMs;',
    to: 'const propagatedAt = triggeredAt;',
    breaks: 'nothing is closed before trigger + propagation delay',
  },
  'hint-deadlines-at-window-end': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: 'const hintDeadline = Math.min(now + this.#hintLeadMs, this.#windowEnd);',
    to: 'const hintDeadline = this.#windowEnd;',
    breaks: 'hinted connections that do not move are closed at their own deadline, not all at the window end',
  },
  'no-hint-deadline': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: "this.#queue.schedule(hintDeadline, { kind: 'hint-deadline', socket });",
    to: '',
    breaks: 'a hinted connection is closed at its hint deadline',
  },
  'window-end-ignored': {
    file: 'packages/drain-core/src/drain-schedule.ts',
    from: 'if (this.#times === times) this.#timer.at(windowEnd, () => on.windowEnded());',
    to: '',
    breaks: 'whatever is still open at the window end is closed then (rate-cap overflow)',
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in MUTATIONS)) {
    console.error(`Unknown mutation "${name}". Known: ${Object.keys(MUTATIONS).join(', ')}.`);
    process.exit(2);
  }
}
const selected = wanted.length > 0 ? wanted : Object.keys(MUTATIONS);

const copy = mkdtempSync(join(tmpdir(), 'baton-mutation-'));
const cleanup = () => rmSync(copy, { recursive: true, force: true });
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// The tracked and untracked-but-not-ignored files, plus each package's node_modules (pnpm's relative links to
// sibling packages must resolve inside the copy); the root node_modules (third-party code only) is linked.
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root })
  .toString()
  .split('\0')
  .filter(Boolean);
for (const file of files) cpSync(join(root, file), join(copy, file), { recursive: true });
for (const dir of ['packages', 'examples']) {
  for (const entry of execFileSync('ls', [join(root, dir)])
    .toString()
    .split('\n')
    .filter(Boolean)) {
    const modules = join(root, dir, entry, 'node_modules');
    try {
      cpSync(modules, join(copy, dir, entry, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    } catch {
      // no node_modules in this one
    }
  }
}
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));

const tsc = join(root, 'node_modules/typescript/bin/tsc');
const vitest = join(root, 'node_modules/vitest/vitest.mjs');

function build() {
  execFileSync(process.execPath, [tsc, '-b'], { cwd: copy, stdio: 'inherit' });
}

/** Names of the failing tests of the fast suite in the copy. */
function failingTests() {
  const report = join(copy, 'vitest-report.json');
  spawnSync(process.execPath, [vitest, 'run', ...FAST_SUITE, '--reporter=json', `--outputFile=${report}`], {
    cwd: copy,
    stdio: 'ignore',
  });
  const results = JSON.parse(readFileSync(report, 'utf8'));
  return results.testResults.flatMap((file) =>
    file.assertionResults
      .filter((test) => test.status === 'failed')
      .map((test) => `${file.name.slice(copy.length + 1)} > ${test.fullName}`),
  );
}

build();
const baseline = failingTests();
if (baseline.length > 0) {
  console.error(`The fast suite fails without any mutation; fix that first:\n  ${baseline.join('\n  ')}`);
  process.exit(1);
}

let survivors = 0;
for (const name of selected) {
  const mutation = MUTATIONS[name];
  const path = join(copy, mutation.file);
  const original = readFileSync(path, 'utf8');
  if (!original.includes(mutation.from)) {
    console.error(`${name}: "${mutation.from}" is no longer in ${mutation.file}; update the mutation.`);
    process.exit(1);
  }
  // A new file rather than an in-place write: the copy's files must never alias the original's.
  rmSync(path);
  writeFileSync(path, original.replace(mutation.from, mutation.to));
  build();
  const caught = failingTests();
  rmSync(path);
  writeFileSync(path, original);
  console.log(`\n${name} — breaks: ${mutation.breaks}`);
  if (caught.length === 0) {
    survivors++;
    console.log('  SURVIVED: no test failed');
  } else {
    console.log(`  caught by ${caught.length} test(s):`);
    for (const test of caught) console.log(`    ${test}`);
  }
}
build();
console.log(`\n${selected.length - survivors} of ${selected.length} mutations caught.`);
process.exit(survivors > 0 ? 1 : 0);
