#!/usr/bin/env node
// Do the fast tests catch the regressions that matter? Each mutation below breaks one promise of the drain
// the way a plausible bug would. This script copies the working tree to a temporary folder (the original is
// never touched), runs the fast suite once unmutated (it must pass), then applies one mutation at a time
// there, rebuilds, runs the test files expected to catch it and reports which tests failed. A mutation that
// none of them catches is a hole in the suite: the script exits 1.
//
//   pnpm mutation            every mutation
//   pnpm mutation close-all  only the named ones

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The fast suite: in-process tests of the libraries, a minute or two in all (no lab, no chart, no Redis).
const FAST_SUITE = [
  'packages/drain-core/test',
  'packages/fastify-plugin/test',
  'packages/client/test',
  'packages/handoff/test/handoff.test.ts',
  'test/exit-policy.test.ts',
];

/**
 * name → the file, the exact text it replaces, the replacement, the promise it breaks, and the test files
 * expected to catch it: a mutant counts as caught only when a test of one of those files fails (a flaky test
 * elsewhere is not a catch).
 */
const MUTATIONS = {
  'close-all': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: 'offsets[i] = now + (offsets[i] as number);',
    to: 'offsets[i] = now;',
    breaks: 'closes are spread over the window (every connection closed at once instead)',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts', 'packages/drain-core/test/close-slots.test.ts'],
  },
  'no-propagation-delay': {
    file: 'packages/drain-core/src/rollout-hold.ts',
    from: 'const propagatedAt = triggeredAt + budget.propagationDelayMs;',
    to: 'const propagatedAt = triggeredAt;',
    breaks: 'nothing is closed before trigger + propagation delay',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts', 'packages/drain-core/test/rollout-hold.test.ts'],
  },
  'hint-deadlines-at-window-end': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: 'const hintDeadline = Math.min(now + this.#hintLeadMs, this.#windowEnd);',
    to: 'const hintDeadline = this.#windowEnd;',
    breaks: 'hinted connections that do not move are closed at their own deadline, not all at the window end',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts', 'packages/drain-core/test/hint-protocol.test.ts'],
  },
  'no-hint-deadline': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: "this.#queue.schedule(hintDeadline, { kind: 'hint-deadline', socket });",
    to: '',
    breaks: 'a hinted connection is closed at its hint deadline',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts', 'packages/drain-core/test/hint-protocol.test.ts'],
  },
  'window-end-ignored': {
    file: 'packages/drain-core/src/phase-schedule.ts',
    from: 'if (this.#times === times) this.#timer.at(windowEnd, () => on.windowEnded());',
    to: '',
    breaks: 'whatever is still open at the window end is closed then (rate-cap overflow)',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts'],
  },
  'gate-open-while-closing': {
    file: 'packages/drain-core/src/upgrade-gate.ts',
    from: 'if (!gate.accepts()) {',
    to: 'if (false) {',
    breaks: 'once closing, upgrades are refused with 503 and Retry-After before the app sees them',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts', 'packages/fastify-plugin/test/plugin.test.ts'],
  },
  'no-terminate-after-close-timeout': {
    file: 'packages/drain-core/src/closing-phase.ts',
    from: "      this.#host.options.logger.debug({}, 'baton: close handshake timed out; terminating');\n      socket.terminate();",
    to: "      this.#host.options.logger.debug({}, 'baton: close handshake timed out; terminating');",
    breaks: 'a client that never answers the close handshake is terminated after closeTimeoutMs',
    caughtBy: ['packages/drain-core/test/drain-controller.test.ts'],
  },
  'any-peer-drains-without-token': {
    file: 'packages/drain-core/src/drain-authorization.ts',
    from: "if (expectedToken === undefined) return 'refused';",
    to: "if (expectedToken === undefined) return 'token';",
    breaks: 'without a configured token, only the container (its proof) may drain',
    caughtBy: ['packages/drain-core/test/drain-authorization.test.ts', 'packages/drain-core/test/admin-server.test.ts'],
  },
  'any-bearer-drains': {
    file: 'packages/drain-core/src/drain-authorization.ts',
    from: "return timingSafeEqual(offered, expectedToken) ? 'token' : 'refused';",
    to: "return 'token';",
    breaks: 'an operator drains only with the right token',
    caughtBy: ['packages/drain-core/test/drain-authorization.test.ts', 'packages/drain-core/test/admin-server.test.ts'],
  },
  'loopback-is-the-container': {
    file: 'packages/drain-core/src/drain-authorization.ts',
    from: "    if (peer.origin !== undefined) return 'refused';",
    to: "    if (peer.origin !== undefined) return 'refused';\n    if (isLoopbackHost(peer.host)) return 'container';",
    breaks: 'a loopback address alone (a mesh sidecar, an SSRF) never starts a terminating drain',
    caughtBy: ['packages/drain-core/test/drain-authorization.test.ts', 'test/admin-security.test.ts'],
  },
  'control-key-ignored': {
    file: 'packages/client/src/protocol.ts',
    from: '    return this.#key === null || control.k === this.#key;',
    to: '    return true;',
    breaks: 'a control message relayed by the app (without the connection key) is dropped, never obeyed',
    caughtBy: ['test/control-injection.test.ts', 'packages/client/test/protocol.test.ts'],
  },
  'superseded-token-opens': {
    file: 'packages/handoff/src/session-store.ts',
    from: "    if (entry.generation !== generation) return { found: 'superseded' };",
    to: '',
    breaks: 'store mode keeps one live token per session: an older checkpoint opens nothing',
    caughtBy: ['packages/handoff/test/handoff.test.ts', 'packages/drain-core/test/hint-protocol.test.ts'],
  },
  'refused-resume-spends-token': {
    file: 'packages/drain-core/src/protocol-v1.ts',
    from: "        socket.once('close', putBack);",
    to: '',
    breaks: 'a resume refused by admission control or verifyClient keeps its session for the retry',
    caughtBy: ['packages/drain-core/test/hint-protocol.test.ts'],
  },
  'move-queue-uncounted': {
    file: 'packages/client/src/baton-socket.ts',
    from: '    return (this.#active?.bufferedAmount ?? 0) + this.#outbox.bytes;',
    to: '    return this.#active?.bufferedAmount ?? 0;',
    breaks: "sends waiting for a move count in bufferedAmount, so the relay's backpressure holds the client",
    caughtBy: ['packages/client/test/baton-socket.test.ts', 'packages/relay/test/relay-process.test.ts'],
  },
  'token-key-not-derived': {
    file: 'packages/handoff/src/token-sealer.ts',
    from: "  return createHmac('sha256', key).update(SUBKEY_INFO).update(salt).update(FIRST_BLOCK).digest();",
    to: '  return key;',
    breaks: 'no AES-GCM key nears its random-IV budget: tokens are sealed under per-salt subkeys',
    caughtBy: ['packages/handoff/test/handoff.test.ts'],
  },
  'token-not-authenticated': {
    file: 'packages/handoff/src/token-sealer.ts',
    from: "plaintext = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');",
    to: "plaintext = decipher.update(body).toString('utf8');",
    breaks: 'a token altered by anyone without the key is refused (AES-GCM authentication)',
    caughtBy: ['packages/handoff/test/handoff.test.ts', 'packages/drain-core/test/hint-protocol.test.ts'],
  },
  'token-never-expires': {
    file: 'packages/handoff/src/token-sealer.ts',
    from: 'if (payload.e <= this.#now())',
    to: 'if (false)',
    breaks: 'a token is refused once its TTL has passed',
    caughtBy: ['packages/handoff/test/handoff.test.ts'],
  },
  'admission-admits-all': {
    file: 'packages/drain-core/src/admission-control.ts',
    from: 'if (this.#buckets[kind].take(now)) {',
    to: 'if (true) {',
    breaks: 'admission control refuses upgrades past the rate and burst (503 with a jittered Retry-After)',
    caughtBy: ['packages/drain-core/test/admission.test.ts'],
  },
  'manual-drain-exits': {
    file: 'packages/drain-core/src/drain-exit.ts',
    from: 'if (forced || !terminating || !due) return;',
    to: 'if (forced || !due) return;',
    breaks: 'a manual drain (a pod that stays) never ends the process',
    caughtBy: ['test/exit-policy.test.ts'],
  },
  'exit-without-signal': {
    file: 'packages/drain-core/src/drain-exit.ts',
    from: "const due = this.#mode === 'always' || (this.#mode === 'on-signal' && signalled);",
    to: "const due = this.#mode !== 'never';",
    breaks: "with 'on-signal' (the default) a preStop drain alone leaves the process up until SIGTERM",
    caughtBy: ['test/exit-policy.test.ts'],
  },
  'backoff-never-grows': {
    file: 'packages/client/src/backoff.ts',
    from: 'Math.min(max, initial * 2 ** attempt)',
    to: 'Math.min(max, initial)',
    breaks: "the client's reconnect cap doubles per failed attempt, up to maxDelayMs",
    caughtBy: ['packages/client/test/baton-socket.test.ts', 'packages/client/test/protocol.test.ts'],
  },
  'backoff-without-jitter': {
    file: 'packages/client/src/backoff.ts',
    from: 'return random() * cap;',
    to: 'return cap;',
    breaks:
      'every reconnect delay is drawn uniformly from [0, cap] (full jitter), so a fleet does not return in lockstep',
    caughtBy: ['packages/client/test/baton-socket.test.ts', 'packages/client/test/protocol.test.ts'],
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

/**
 * The failing tests of the fast suite in the copy, as "file > name" (a file that failed to load counts as one
 * failure named after the file). Each run writes a fresh report: a run that leaves none, or whose exit code
 * disagrees with its report, stops the script instead of being read as a catch or a survivor.
 */
function failingTests(files = FAST_SUITE) {
  const report = join(copy, 'vitest-report.json');
  rmSync(report, { force: true });
  const run = spawnSync(process.execPath, [vitest, 'run', ...files, '--reporter=json', `--outputFile=${report}`], {
    cwd: copy,
    stdio: 'ignore',
  });
  let results;
  try {
    results = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    console.error(
      `vitest ended (status ${run.status}, signal ${run.signal}) without a report; nothing can be concluded.`,
    );
    process.exit(1);
  }
  const failed = results.testResults.flatMap((file) => {
    const name = file.name.slice(copy.length + 1);
    const tests = file.assertionResults
      .filter((test) => test.status === 'failed')
      .map((test) => ({ file: name, test: test.fullName }));
    return tests.length === 0 && file.status === 'failed' ? [{ file: name, test: '(the file failed to run)' }] : tests;
  });
  if ((run.status === 0) !== (failed.length === 0)) {
    console.error(
      `vitest exited ${run.status} but its report lists ${failed.length} failure(s); nothing can be concluded.`,
    );
    process.exit(1);
  }
  return failed;
}

build();
const baseline = failingTests();
if (baseline.length > 0) {
  console.error(
    `The fast suite fails without any mutation; fix that first:\n  ${baseline.map(({ file, test }) => `${file} > ${test}`).join('\n  ')}`,
  );
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
  // Only the files expected to catch it run (a mutant that stops the drain makes every other drain test wait
  // for its timeout): a failure there is the catch.
  const caught = failingTests(mutation.caughtBy);
  rmSync(path);
  writeFileSync(path, original);
  console.log(`\n${name} — breaks: ${mutation.breaks}`);
  if (caught.length === 0) {
    survivors++;
    console.log(`  SURVIVED: no test of ${mutation.caughtBy.join(', ')} failed`);
  } else {
    console.log(`  caught by ${caught.length} test(s):`);
    for (const { file, test } of caught) console.log(`    ${file} > ${test}`);
  }
}
build();
console.log(`\n${selected.length - survivors} of ${selected.length} mutations caught.`);
process.exit(survivors > 0 ? 1 : 0);
