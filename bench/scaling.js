// `pnpm bench:scaling`: what one gateway process pays per connection as the count grows to this machine's
// limit (a process may hold 20,000 descriptors here). For each count, a bare `ws` server and the same server
// with drain-core attached (admin server and metrics on, as a gateway runs it: bench/lib/server.js), measured
// in the same run, order alternated:
//
//   accept           ms to accept the whole fleet, per 1,000 connections
//   heap, RSS        per idle connection after GC, drain-core's against bare ws at the same count  goal heap <= 1.05
//   loop delay       p99 and max while drain-core drains them all over the window (bare: the same
//                    connections left idle as long)                                            goal p99 <= 20 ms
//   scrapes          while draining, Prometheus scrapes /metrics every 250 ms: the slowest answer
//
// The slope is the claim: each per-connection figure within 10 % from the smallest count to the largest.
// The fleet runs in client processes of at most 10,000 connections, their source addresses spread over
// 127.0.0.0/8. `--relay`: the same curve for @baton/relay (with drain-core on its client side, as baton-relay
// runs) in front of a bare server, against that server reached directly; two descriptors per relayed client, so
// up to 9,500. Options (env): BENCH_SCALING_COUNTS (1000,5000,10000,19500; with --relay 1000,5000,9500),
// BENCH_DRAIN_WINDOW_MS (10000).

import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { nextMessage, stop } from './lib/child-process.js';

const relayMode = process.argv.includes('--relay');
const counts = (process.env.BENCH_SCALING_COUNTS ?? (relayMode ? '1000,5000,9500' : '1000,5000,10000,19500'))
  .split(',')
  .map(Number);
const windowMs = Number(process.env.BENCH_DRAIN_WINDOW_MS ?? 10_000);
const FLEET_MAX = 10_000;

const serverPath = fileURLToPath(new URL('./lib/server.js', import.meta.url));
const relayPath = fileURLToPath(new URL('./lib/relay-server.js', import.meta.url));
const fleetPath = fileURLToPath(new URL('./lib/client-fleet.js', import.meta.url));
const log = (text) => process.stderr.write(`${text}\n`);

async function startProcess(path, env) {
  const child = fork(path, [], {
    env: { ...process.env, DRAIN_WINDOW_MS: String(windowMs), ...env },
    execArgv: ['--expose-gc'],
  });
  const { port, adminPort } = await nextMessage(child, 'listening');
  return { child, url: `ws://127.0.0.1:${port}`, adminPort };
}

/**
 * The measured process of a variant: a bare or drain-core server; with --relay, 'bare' is a bare server reached
 * directly and 'baton' the relay in front of one (the relay is measured, its upstream is not).
 */
async function startServer(variant) {
  if (!relayMode || variant === 'bare') {
    const server = await startProcess(serverPath, { VARIANT: variant });
    return { ...server, others: [] };
  }
  const upstream = await startProcess(serverPath, { VARIANT: 'bare' });
  const relay = await startProcess(relayPath, { UPSTREAM: upstream.url });
  return { ...relay, others: [upstream.child] };
}

async function memory(child) {
  child.send({ type: 'memory' });
  return nextMessage(child, 'memory');
}

async function measure(variant, count) {
  const server = await startServer(variant);
  const before = await memory(server.child);
  const fleets = [];
  for (let opened = 0, index = 0; opened < count; index++) {
    const size = Math.min(FLEET_MAX, count - opened);
    fleets.push(
      fork(fleetPath, [], {
        env: {
          ...process.env,
          URL: server.url,
          COUNT: String(size),
          SOURCE_NET: `127.0.${10 + index}`,
          WAIT_GO: '1',
        },
      }),
    );
    opened += size;
  }
  await Promise.all(fleets.map((fleet) => nextMessage(fleet, 'ready')));
  const connected = Promise.all(fleets.map((fleet) => nextMessage(fleet, 'connected')));
  const started = performance.now();
  for (const fleet of fleets) fleet.send({ type: 'go' });
  await connected;
  const acceptMs = performance.now() - started;
  const after = await memory(server.child);
  if (after.connections !== count) throw new Error(`${variant}: ${after.connections} of ${count} connected`);
  server.child.send({ type: 'drain', how: variant === 'baton' ? 'baton' : 'idle' });
  // A scrape every 250 ms while it drains, as Prometheus would (the admin server under load, the metrics read
  // at scrape time).
  const scrapes = [];
  let draining = true;
  const scraping = (async () => {
    if (!server.adminPort) return;
    while (draining) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${server.adminPort}/metrics`);
      await response.text();
      scrapes.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  const drained = await nextMessage(server.child, 'drained');
  draining = false;
  await scraping;
  await stop(...fleets, server.child, ...server.others);
  return {
    count,
    acceptMsPerThousand: (acceptMs / count) * 1000,
    heapPerConnection: (after.heapUsed - before.heapUsed) / count,
    rssPerConnection: (after.rss - before.rss) / count,
    loopP99Ms: drained.p99Ms,
    loopMaxMs: drained.maxMs,
    drainMs: drained.durationMs,
    scrapes: scrapes.length,
    slowestScrapeMs: Math.max(0, ...scrapes),
  };
}

log(
  `bench:scaling${relayMode ? ' --relay (baton: the relay; bare: the server reached directly)' : ''}: node ${process.version}, ${availableParallelism()} cores, counts ${counts.join(', ')}, window ${windowMs} ms`,
);
const results = [];
for (const [i, count] of counts.entries()) {
  const order = i % 2 ? ['baton', 'bare'] : ['bare', 'baton'];
  const row = { count };
  for (const variant of order) {
    row[variant] = await measure(variant, count);
    const r = row[variant];
    log(
      `  ${count} ${variant}: accept ${r.acceptMsPerThousand.toFixed(0)} ms/1k, heap ${(r.heapPerConnection / 1024).toFixed(2)} KiB, rss ${(r.rssPerConnection / 1024).toFixed(2)} KiB, loop p99 ${r.loopP99Ms.toFixed(2)} ms max ${r.loopMaxMs.toFixed(2)} ms`,
    );
  }
  results.push(row);
}

const kib = (bytes) => (bytes / 1024).toFixed(2);
const rows = [
  [
    'connections',
    'accept, ms per 1k (bare / baton)',
    'heap per conn KiB (bare / baton, ratio)',
    'RSS per conn KiB (bare / baton, ratio)',
    'loop p99 / max ms: bare idle',
    'loop p99 / max ms: baton draining',
    'scrapes while draining, slowest ms',
  ],
  ...results.map(({ count, bare, baton }) => [
    count.toLocaleString('en'),
    `${bare.acceptMsPerThousand.toFixed(0)} / ${baton.acceptMsPerThousand.toFixed(0)}`,
    `${kib(bare.heapPerConnection)} / ${kib(baton.heapPerConnection)} (${(baton.heapPerConnection / bare.heapPerConnection).toFixed(3)})`,
    `${kib(bare.rssPerConnection)} / ${kib(baton.rssPerConnection)} (${(baton.rssPerConnection / bare.rssPerConnection).toFixed(3)})`,
    `${bare.loopP99Ms.toFixed(2)} / ${bare.loopMaxMs.toFixed(2)}`,
    `${baton.loopP99Ms.toFixed(2)} / ${baton.loopMaxMs.toFixed(2)}`,
    baton.scrapes ? `${baton.scrapes}, ${baton.slowestScrapeMs.toFixed(1)}` : '—',
  ]),
];
const first = results[0].baton;
const last = results.at(-1).baton;
const growth = (key) => `${(((last[key] - first[key]) / first[key]) * 100).toFixed(1)} %`;
const [head, ...body] = rows.map((row) => `| ${row.join(' | ')} |`);
console.log(`\n${[head, `|${' --- |'.repeat(rows[0].length)}`, ...body].join('\n')}`);
console.log(
  `\nbaton, ${counts[0]} -> ${counts.at(-1)}: heap per connection ${growth('heapPerConnection')}, RSS per connection ${growth('rssPerConnection')}, accept per connection ${growth('acceptMsPerThousand')}, loop p99 ${first.loopP99Ms.toFixed(2)} -> ${last.loopP99Ms.toFixed(2)} ms ${relayMode ? "(goals: each per-connection figure within 10 %, p99 <= 20 ms; the relay against the server direct is bench:relay's business)" : '(goals: each per-connection figure within 10 %, p99 <= 20 ms, heap <= 1.05x bare)'}`,
);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL(`./results/scaling${relayMode ? '-relay' : ''}-latest.json`, import.meta.url),
  `${JSON.stringify({ windowMs, relay: relayMode, results }, null, 2)}\n`,
);
