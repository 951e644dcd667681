// `pnpm bench:relay`: what the relay's extra hop costs, each figure against the direct path measured in the
// same run, with nginx proxying the same WebSockets beside it (Debian's nginx-light, one worker; skipped with a
// note when it is not installed). Rounds alternated (direct, relay, nginx; then the reverse order):
//
//   added latency        one message at a time, client → relay → bare ws echo, against client → echo   goal p50 <= +0.1 ms
//   messages per CPU-s   echo load through the relay, per second of the relay's CPU, against the same
//                        load on a bare ws echo server per second of its CPU                          goal >= 0.9
//   memory per conn      RSS per idle relayed connection (a client socket and an upstream socket)
//                        against RSS per idle connection of the bare ws server                        goal <= 1.5
//
// Options (env): BENCH_ROUNDS (4), BENCH_PINGS (3000), BENCH_ECHO_MS (2000), BENCH_RELAY_IDLE (5000).

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { nextMessage, stop } from './lib/child-process.js';
import { NGINX_PATH, nginxAvailable, startNginx } from './lib/nginx.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const pings = Number(process.env.BENCH_PINGS ?? 3000);
const echoMs = Number(process.env.BENCH_ECHO_MS ?? 2000);
const idle = Number(process.env.BENCH_RELAY_IDLE ?? 5000);

const serverPath = fileURLToPath(new URL('./lib/server.js', import.meta.url));
const relayPath = fileURLToPath(new URL('./lib/relay-server.js', import.meta.url));
const fleetPath = fileURLToPath(new URL('./lib/client-fleet.js', import.meta.url));

async function start(path, env = {}) {
  const child = fork(path, [], { env: { ...process.env, VARIANT: 'bare', ...env }, execArgv: ['--expose-gc'] });
  const { port } = await nextMessage(child, 'listening');
  return { child, url: `ws://127.0.0.1:${port}` };
}

/** What a path's measured process reports: a Node child over IPC, or nginx from /proc. */
function nodeProcess(child) {
  return {
    async cpuMicros() {
      child.send({ type: 'cpu' });
      return (await nextMessage(child, 'cpu')).micros;
    },
    async rss() {
      child.send({ type: 'memory' });
      return (await nextMessage(child, 'memory')).rss;
    },
  };
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Round trips of one 64-byte message at a time: p50 and p99 in ms. */
async function latency(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await once(ws, 'open');
  const payload = 'x'.repeat(64);
  const samples = [];
  for (let i = 0; i < pings + 300; i++) {
    const started = process.hrtime.bigint();
    ws.send(payload);
    await once(ws, 'message');
    if (i >= 300) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  ws.close();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** Echo load (64 connections, 8 in flight) against url; messages per second of `measured`'s CPU. */
async function echoPerCpuSecond(url, measured) {
  const fleet = fork(fleetPath, [], { env: { ...process.env, URL: url, COUNT: '64' } });
  await nextMessage(fleet, 'connected');
  const before = await measured.cpuMicros();
  fleet.send({ type: 'echo', inflight: 8, payloadBytes: 64, warmupMs: 500, durationMs: echoMs });
  const { total } = await nextMessage(fleet, 'echo');
  const after = await measured.cpuMicros();
  await stop(fleet);
  return total / ((after - before) / 1e6);
}

/** RSS per idle connection of `measured` once `idle` clients connected to url. */
async function rssPerConnection(url, measured) {
  const before = await measured.rss();
  const fleet = fork(fleetPath, [], { env: { ...process.env, URL: url, COUNT: String(idle) } });
  await nextMessage(fleet, 'connected');
  const after = await measured.rss();
  await stop(fleet);
  return (after - before) / idle;
}

const paths = ['direct', 'relay', ...(nginxAvailable() ? ['nginx'] : [])];
if (!paths.includes('nginx')) {
  process.stderr.write(
    `  nginx not found at ${NGINX_PATH} (./scripts/setup.sh --browser installs nginx-light): measuring without it\n`,
  );
}
const results = Object.fromEntries(paths.map((path) => [path, { p50: [], p99: [], perCpu: [], rss: [] }]));
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? paths : [...paths].reverse();
  for (const path of order) {
    // Fresh processes each time: memory is measured from a clean start.
    const upstream = await start(serverPath);
    const relay = path === 'relay' ? await start(relayPath, { UPSTREAM: upstream.url }) : undefined;
    const nginx = path === 'nginx' ? await startNginx(upstream.url) : undefined;
    const url = relay?.url ?? nginx?.url ?? upstream.url;
    const measured = nginx ?? nodeProcess(relay ? relay.child : upstream.child);
    const { p50, p99 } = await latency(url);
    results[path].p50.push(p50);
    results[path].p99.push(p99);
    results[path].perCpu.push(await echoPerCpuSecond(url, measured));
    results[path].rss.push(await rssPerConnection(url, measured));
    await nginx?.stop();
    await stop(...(relay ? [relay.child] : []), upstream.child);
    process.stderr.write(
      `  round ${round + 1} ${path}: p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, ` +
        `${results[path].perCpu.at(-1).toFixed(0)} msg/CPU-s, ${(results[path].rss.at(-1) / 1024).toFixed(2)} KiB/conn\n`,
    );
  }
}

const summary = Object.fromEntries(
  paths.map((path) => [
    path,
    {
      p50: median(results[path].p50),
      p99: median(results[path].p99),
      perCpu: median(results[path].perCpu),
      rssKiB: median(results[path].rss) / 1024,
    },
  ]),
);
const { direct } = summary;
const proxies = paths.filter((path) => path !== 'direct');
const against = (path, figure) =>
  figure === 'p50' || figure === 'p99'
    ? `+${(summary[path][figure] - direct[figure]).toFixed(3)} ms`
    : (summary[path][figure] / direct[figure]).toFixed(3);
const GOALS = { p50: '≤ +0.1 ms', p99: '—', perCpu: '≥ 0.9', rssKiB: '≤ 1.5' };
const FIGURES = [
  ['p50', 'round trip p50 (ms, median of rounds)', (v) => v.toFixed(3)],
  ['p99', 'round trip p99 (ms, median of rounds)', (v) => v.toFixed(3)],
  ['perCpu', 'echo messages per CPU-second of the measured process', (v) => v.toFixed(0)],
  ['rssKiB', `RSS per idle connection at ${idle} (KiB)`, (v) => v.toFixed(2)],
];
const rows = [
  ['figure', 'direct (bare ws)', ...proxies, ...proxies.map((path) => `${path} vs direct`), 'goal (relay)'],
  ...FIGURES.map(([key, label, format]) => [
    label,
    format(direct[key]),
    ...proxies.map((path) => format(summary[path][key])),
    ...proxies.map((path) => against(path, key)),
    GOALS[key],
  ]),
];
const [head, ...body] = rows.map((row) => `| ${row.join(' | ')} |`);
console.log(`\n${[head, `|${' --- |'.repeat(rows[0].length)}`, ...body].join('\n')}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/relay-latest.json', import.meta.url),
  `${JSON.stringify({ results, summary }, null, 2)}\n`,
);
