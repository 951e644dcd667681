#!/usr/bin/env node
// baton-lab: release a local fleet with each strategy and compare what the clients went through.
//
//   baton-lab [--clients 1000] [--replicas 4] [--time-scale 0.1 (1 with --unplanned)] [--gateway ws|fastify] [--only NAME]
//             [--matrix | --relay | --rebalance | --unplanned [--admission-rate R]] [--readiness-spread S] [--new-node-share X] [--seed N]
//             [--dataplane kernel|node] [--json FILE] [--html FILE]

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ReadinessModel } from './cluster/release.js';
import { KernelBalancer } from './datapath/kernel/kernel-balancer.js';
import { labHtmlReport, table } from './report/lab-report.js';
import { defaultDataPath, runStrategy, type StrategyResult } from './run/run-strategy.js';
import {
  defaultStrategies,
  matrixStrategies,
  rebalanceStrategies,
  relayStrategies,
  unplannedStrategies,
} from './strategies/rows.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    replicas: { type: 'string', default: '4' },
    'time-scale': { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
    html: { type: 'string' },
    gateway: { type: 'string', default: 'ws' },
    matrix: { type: 'boolean', default: false },
    unplanned: { type: 'boolean', default: false },
    relay: { type: 'boolean', default: false },
    rebalance: { type: 'boolean', default: false },
    'admission-rate': { type: 'string', default: '100' },
    'readiness-spread': { type: 'string' },
    'new-node-share': { type: 'string' },
    seed: { type: 'string', default: '1' },
    dataplane: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`baton-lab: release a local fleet with each strategy and compare what the clients went through.

  --clients N        clients in the fleet (default 1000)
  --replicas N       pods per version (default 4)
  --time-scale X     multiply every real-world duration (120 s grace period...) by X (default 0.1; 1 with
                     --unplanned, whose event-loop figures need real-world load: at X the pods accept,
                     tick and reconnect 1/X times faster, on the same two cores; 1 with --rebalance,
                     whose move rates and fleet readings are real-world)
  --gateway ws|fastify  which example runs the Baton pods (default ws)
  --only TEXT        run only the strategies whose name contains TEXT
  --matrix           run the full matrix (surge × readiness × hold, selector flip per dataplane) instead
                     of the default rows
  --unplanned        run the unplanned-failure rows instead (pods SIGKILLed with no drain, a lost node),
                     with and without admission control (--admission-rate R per pod, default 100/s)
  --relay            run the relay rows instead: plain clients through @baton/relay while the gateway is
                     released (hold, no hold, rollback), and the relay's own release
  --rebalance        run the HPA scale-out rows instead (replicas -> 2 x replicas, rebalancing over 60 s):
                     Baton clients, plain clients through the relay, plain clients only (nothing moves), and
                     Baton clients without rebalancing (today's gateway)
  --readiness-spread S   every run's new pods become ready uniformly over S real-world seconds (overrides
                     the rows' own readiness); with --new-node-share X, a share X of them waits S seconds
                     "for a new node" and the rest are ready at once
  --seed N           seed of the readiness draws (default 1)
  --dataplane kernel|node  the data path between clients and pods: kernel (network namespaces, iptables
                     rules as kube-proxy writes them, conntrack; needs root, ip, iptables, conntrack) or
                     node (the Node balancer, a JavaScript model). Default: kernel where it can run
  --json FILE        write the results as JSON
  --html FILE        write the self-contained HTML report`);
  process.exit(0);
}

function positive(name: string, raw: string | undefined, integer: boolean): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    console.error(
      `baton-lab: --${name} must be a positive ${integer ? 'integer' : 'number'}; got ${JSON.stringify(raw)}`,
    );
    process.exit(2);
  }
  return value;
}

if (values.gateway !== 'ws' && values.gateway !== 'fastify') {
  console.error(`baton-lab: --gateway must be ws or fastify; got ${JSON.stringify(values.gateway)}`);
  process.exit(2);
}
let readiness: ReadinessModel | undefined;
if (values['readiness-spread'] !== undefined) {
  const spreadMs = positive('readiness-spread', values['readiness-spread'], false) * 1000;
  if (values['new-node-share'] === undefined) readiness = { kind: 'uniform', spreadMs };
  else {
    const share = positive('new-node-share', values['new-node-share'], false);
    if (share > 1) {
      console.error(`baton-lab: --new-node-share must be at most 1; got ${share}`);
      process.exit(2);
    }
    readiness = { kind: 'new-node', share, waitMs: spreadMs };
  }
} else if (values['new-node-share'] !== undefined) {
  console.error('baton-lab: --new-node-share needs --readiness-spread (how long those pods wait)');
  process.exit(2);
}
if (values.dataplane !== undefined && values.dataplane !== 'kernel' && values.dataplane !== 'node') {
  console.error(`baton-lab: --dataplane must be kernel or node; got ${JSON.stringify(values.dataplane)}`);
  process.exit(2);
}
if (values.dataplane === 'kernel' && !KernelBalancer.available()) {
  console.error(
    'baton-lab: --dataplane kernel needs root, iproute2 (ip netns), iptables and conntrack; install them (scripts/setup.sh --browser does) or use --dataplane node',
  );
  process.exit(2);
}
// Ctrl-C or a SIGTERM: exit through the 'exit' handlers, which remove the kernel data path's namespaces.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const options = {
  dataPath: (values.dataplane ?? defaultDataPath()) as 'kernel' | 'node',
  gateway: values.gateway as 'ws' | 'fastify',
  clients: positive('clients', values.clients, true),
  replicas: positive('replicas', values.replicas, true),
  timeScale: positive(
    'time-scale',
    values['time-scale'] ?? (values.unplanned || values.rebalance ? '1' : '0.1'),
    false,
  ),
  seed: positive('seed', values.seed, true),
  ...(readiness ? { readiness } : {}),
};
const rows = values.unplanned
  ? unplannedStrategies(positive('admission-rate', values['admission-rate'], false))
  : values.relay
    ? relayStrategies(options.replicas)
    : values.rebalance
      ? rebalanceStrategies(options.replicas)
      : values.matrix
        ? matrixStrategies(options.replicas)
        : defaultStrategies(options.replicas);
const strategies = rows
  .filter((s) => !values.only || s.name.includes(values.only))
  // A readiness given on the command line is the experiment: it replaces each row's own.
  .map((s) => (readiness ? { ...s, readiness } : s));
if (strategies.length === 0) {
  console.error(`baton-lab: no strategy matches --only ${JSON.stringify(values.only)}`);
  process.exit(2);
}

console.log(
  `baton-lab: ${options.clients} clients, ${options.replicas} replicas, time scale ${options.timeScale}, ${options.gateway} gateway, ${
    options.dataPath === 'kernel'
      ? 'kernel data path (network namespaces, kube-proxy-style iptables rules, conntrack)'
      : 'Node balancer data path (a JavaScript model of the LB and kube-proxy)'
  }`,
);
if (values.unplanned && options.timeScale < 1) {
  console.log(
    `  note: at time scale ${options.timeScale} the pods carry ${(1 / options.timeScale).toFixed(0)}× the real-world load (accepts, ticks, reconnects per second); the event-loop figures are for that load`,
  );
}
const results: StrategyResult[] = [];
for (const strategy of strategies) {
  const started = Date.now();
  process.stdout.write(`  ${strategy.name} ... `);
  results.push(await runStrategy(strategy, options));
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
console.log(`\n${table(results)}`);
if (values.html) {
  writeFileSync(values.html, labHtmlReport(options, results));
  console.log(`\nHTML report: ${values.html}`);
}
if (values.json) {
  writeFileSync(values.json, `${JSON.stringify({ options, results }, null, 2)}\n`);
  console.log(`\nJSON: ${values.json}`);
}
