// @ts-check
// `pnpm demo` (until the release lab lands): start the example gateway, connect clients, drain it the way
// Kubernetes does (preStop GET on the admin drain path, then SIGTERM) with a compressed budget, and print
// what every second of the drain looked like.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const CLIENTS = Number(process.env.DEMO_CLIENTS ?? 300);
const budget = { grace: 12, propagation: 2, window: 6, closeTimeout: 2, margin: 1 };

const gateway = spawn(process.execPath, [fileURLToPath(new URL('./server.js', import.meta.url))], {
  env: {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    APP_VERSION: 'v1',
    TICK_MS: '500',
    BATON_GRACE_PERIOD_SECONDS: String(budget.grace),
    BATON_PROPAGATION_SECONDS: String(budget.propagation),
    BATON_DRAIN_WINDOW_SECONDS: String(budget.window),
    BATON_CLOSE_TIMEOUT_SECONDS: String(budget.closeTimeout),
    BATON_SAFETY_MARGIN_SECONDS: String(budget.margin),
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = once(gateway, 'exit');

/** @type {Array<Record<string, any>>} */
const logs = [];
/** @type {Promise<Record<string, any>>} */
const listening = new Promise((resolve, reject) => {
  createInterface({ input: /** @type {NodeJS.ReadableStream} */ (gateway.stdout) }).on('line', (text) => {
    try {
      const line = JSON.parse(text);
      logs.push(line);
      if (line.msg === 'listening') resolve(line);
    } catch {}
  });
  void exited.then(([code]) => reject(new Error(`gateway exited early with code ${code}`)));
});
const { port, adminPort } = await listening;
const url = `ws://127.0.0.1:${port}`;
const admin = `http://127.0.0.1:${adminPort}`;

console.log(`Baton demo: ${CLIENTS} clients on the example ws-gateway (${url}, admin ${admin})`);
console.log(
  `Budget: grace ${budget.grace}s = propagation ${budget.propagation}s + window ${budget.window}s + close timeout ${budget.closeTimeout}s + margin ${budget.margin}s\n`,
);

/** @type {Array<{ code: number, reason: string, at: number }>} */
const closes = [];
for (let start = 0; start < CLIENTS; start += 100) {
  await Promise.all(
    Array.from({ length: Math.min(100, CLIENTS - start) }, async () => {
      const ws = new WebSocket(url);
      ws.on('error', () => {});
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString(), at: Date.now() }));
      await once(ws, 'open');
    }),
  );
}

const t0 = Date.now();
// What the kubelet does: the preStop hook first, then SIGTERM.
const preStop = await fetch(`${admin}/drain`);
console.log(`preStop GET /drain -> ${preStop.status} ${JSON.stringify(await preStop.json())}`);
gateway.kill('SIGTERM');

console.log('\n  t(s)  state      open  closed this second   readiness  new upgrade');
let exitCode = /** @type {number | null} */ (null);
let exitedAt = 0;
void exited.then(([code]) => {
  exitCode = code;
  exitedAt = Date.now();
});
for (let second = 1; exitCode === null && second <= budget.grace + 2; second++) {
  // Pace the table by wall clock: one row per second of the drain.
  await new Promise((resolve) => setTimeout(resolve, t0 + second * 1000 - Date.now()));
  if (exitCode !== null) break;
  const state = [...logs].reverse().find((line) => line.msg === 'drain state')?.to ?? 'serving';
  const inSecond = closes.filter(
    (close) => close.at >= t0 + (second - 1) * 1000 && close.at < t0 + second * 1000,
  ).length;
  const readiness = await fetch(`${admin}/readyz`).then(
    (r) => r.status,
    () => '-',
  );
  const upgrade = await probeUpgrade();
  const bar = '#'.repeat(Math.round((inSecond / CLIENTS) * 120));
  console.log(
    `  ${String(second).padStart(4)}  ${String(state).padEnd(9)} ${String(CLIENTS - closes.length).padStart(5)}  ${String(inSecond).padStart(5)} ${bar.padEnd(24)} ${String(readiness).padStart(5)}      ${upgrade}`,
  );
}
const [code] = await exited;
const drained = logs.find((line) => line.msg === 'drained');
const byCode = closes.reduce((acc, close) => acc.set(close.code, (acc.get(close.code) ?? 0) + 1), new Map());
const last = Math.max(...closes.map((close) => close.at));
console.log(`\nClose codes seen by clients: ${[...byCode].map(([c, n]) => `${c} x${n}`).join(', ')}`);
console.log(
  `First close at +${((Math.min(...closes.map((c) => c.at)) - t0) / 1000).toFixed(2)}s, last at +${((last - t0) / 1000).toFixed(2)}s`,
);
console.log(
  `Gateway exited with code ${code} at +${((exitedAt - t0) / 1000).toFixed(2)}s (SIGKILL would come at +${budget.grace}s)`,
);
console.log(`Drain report: ${JSON.stringify(drained?.report)}`);
process.exitCode = code === 0 && closes.length === CLIENTS && byCode.get(1012) === CLIENTS ? 0 : 1;

/** @returns {Promise<string>} */
function probeUpgrade() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close(1000);
      resolve('101 accepted');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(`${res.statusCode} Retry-After: ${res.headers['retry-after']}`);
      res.resume();
    });
    ws.once('error', () => resolve('refused (pod gone)'));
  });
}
