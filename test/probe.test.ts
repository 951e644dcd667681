// baton-probe against real releases: real gateway processes behind the lab's Node balancer (the ground truth:
// it logs every connection it routes, and to which pod), the probe's CLI as a real child process with its
// fleet in worker processes, and the lab's emulated pod API for the rollout watch. A good release (Baton
// drain, new pods only behind the balancer) exits 0 with each client disconnected once; a bad one (naive pods
// closing everything, replaced one after the other) exits 1. Bad input exits 2, and nothing is left behind.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  APP_LABEL,
  budgetEnv,
  type GatewayProcess,
  KubeApi,
  LAB_NAMESPACE,
  NodeBalancer,
  PodStore,
  startGateway,
} from '../packages/lab/src/harness/index.js';
import { buildReport, type ProbeReport, runFromRecords } from '../packages/probe/src/index.js';
import { useCleanups } from './support/cleanups.js';
import { startWsServer } from './support/servers.js';

const cleanups = useCleanups();
const cli = fileURLToPath(new URL('../packages/probe/dist/cli.js', import.meta.url));
const workerScript = 'packages/probe/dist/fleet/fleet-worker.js';
const scripts = {
  baton: fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url)),
  naive: fileURLToPath(new URL('../examples/naive-gateway/server.js', import.meta.url)),
};
const out = (name: string) => join(tmpdir(), `baton-probe-test-${process.pid}-${name}`);

interface ProbeProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function probe(args: string[]): ProbeProcess {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Fleet workers of the probe still running anywhere on this machine. */
function workersLeft(): number {
  try {
    return execFileSync('pgrep', ['-f', workerScript], { encoding: 'utf8' }).trim().split('\n').length;
  } catch {
    return 0; // pgrep exits 1 when nothing matches
  }
}

/** A bounded poll of the balancer's own flow table (its state, not a clock, decides). */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function flowsOn(balancer: NodeBalancer, pods: GatewayProcess[]): Promise<number> {
  const flows = await balancer.openFlows();
  return pods.reduce((sum, pod) => sum + (flows.get(pod.port) ?? 0), 0);
}

/** The balancer's accepts by the version of the pod it chose: the ground truth the probe must match. */
function balancerAccepts(balancer: NodeBalancer, versions: Map<number, string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { port } of balancer.accepts) {
    const version = versions.get(port) ?? 'unknown';
    counts[version] = (counts[version] ?? 0) + 1;
  }
  return counts;
}

function plus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum = { ...a };
  for (const [key, n] of Object.entries(b)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

async function pods(kind: 'baton' | 'naive', specs: [name: string, version: string][], env: Record<string, string>) {
  const started = await Promise.all(
    specs.map(([name, version]) => startGateway(scripts[kind], { ...env, POD_NAME: name, APP_VERSION: version })),
  );
  for (const pod of started) cleanups.push(() => pod.stop());
  return started;
}

/** Two pods of v1 and two of v2 (v1 behind the balancer comes next), the version of each pod's port. */
async function twoVersions(kind: 'baton' | 'naive', env: Record<string, string>) {
  const [v1a, v1b, v2a, v2b] = (await pods(
    kind,
    [
      ['gw-v1-a', 'v1'],
      ['gw-v1-b', 'v1'],
      ['gw-v2-a', 'v2'],
      ['gw-v2-b', 'v2'],
    ],
    env,
  )) as [GatewayProcess, GatewayProcess, GatewayProcess, GatewayProcess];
  const versions = new Map([v1a, v1b, v2a, v2b].map((pod, i) => [pod.port, i < 2 ? 'v1' : 'v2']));
  const balancer = new NodeBalancer();
  cleanups.push(() => balancer.close());
  await balancer.listen();
  return { v1a, v1b, v2a, v2b, versions, balancer };
}

const BUDGET = budgetEnv({
  gracePeriodMs: 20_000,
  propagationDelayMs: 200,
  drainWindowMs: 1_500,
  closeTimeoutMs: 2_000,
  safetyMarginMs: 1_000,
});
/** 60 clients through the balancer; the test ends the run (SIGINT) once the release is over, 90 s at most. */
const fleetOf60 = (balancer: NodeBalancer) => [
  '--url',
  `ws://127.0.0.1:${balancer.port}/`,
  '--clients',
  '60',
  '--duration',
  '90',
  '--ramp',
  '0.5',
];
const FAST_BACKOFF = ['--backoff-initial', '0.2', '--backoff-max', '1'];

describe('baton-probe release', () => {
  it('a good release: every client disconnected once, only v2 takes reconnects, the figures match the balancer, exit 0; shards merge', {
    timeout: 120_000,
  }, async () => {
    const env = { ...BUDGET, TICK_MS: '200' };
    const { v1a, v1b, v2a, v2b, versions, balancer } = await twoVersions('baton', env);
    const endpoint = (pod: GatewayProcess, terminating = false) => ({ port: pod.port, ready: true, terminating });
    await balancer.update([endpoint(v1a), endpoint(v1b)]);
    // The rollout as the pod API shows it: the probe watches it (read-only) through a kubeconfig.
    const store = new PodStore();
    const api = new KubeApi(store);
    await api.listen();
    cleanups.push(() => api.close());
    for (const [name, version] of [
      ['gw-v1-a', 'v1'],
      ['gw-v1-b', 'v1'],
    ] as const) {
      store.create({ name, version, graceMs: 20_000 });
      store.markReady(name);
    }

    // Two shards of one fleet of 60 clients, as two machines would run it.
    const common = fleetOf60(balancer);
    const thresholds = ['--max-multi', '0', '--max-outgoing', '0'];
    const shards = [1, 2].map((i) =>
      probe([
        'release',
        ...common,
        ...FAST_BACKOFF,
        ...thresholds,
        '--shard',
        `${i}/2`,
        '--json',
        out(`good-${i}.json`),
        // One shard reads the version from the upgrade's headers (the default), the other from the ticks.
        ...(i === 2 ? ['--version-from', 'json:version'] : []),
        ...(i === 1
          ? ['--kubeconfig', api.kubeconfig(), '--namespace', LAB_NAMESPACE, '--selector', `app=${APP_LABEL}`]
          : []),
      ]),
    );
    await until(async () => (await flowsOn(balancer, [v1a, v1b])) === 60, 'all 60 clients on v1');

    // The release: v2 ready, the Service sends only there, the v1 pods are deleted and drain.
    for (const name of ['gw-v2-a', 'gw-v2-b']) {
      store.create({ name, version: 'v2', graceMs: 20_000 });
      store.markReady(name);
    }
    await balancer.update([endpoint(v2a), endpoint(v2b)]);
    store.markDeleted('gw-v1-a');
    store.markDeleted('gw-v1-b');
    v1a.terminate();
    v1b.terminate();
    await Promise.all([v1a.exited, v1b.exited]);
    await until(async () => (await flowsOn(balancer, [v2a, v2b])) === 60, 'all 60 clients back, on v2');
    // The release is over: end both probes now (SIGINT ends a run early and reports what it measured).
    for (const shard of shards) shard.child.kill('SIGINT');
    const codes = await Promise.all(shards.map((shard) => shard.exited));
    expect(codes, shards.map((s) => s.stderr()).join('\n')).toEqual([0, 0]);
    expect(workersLeft()).toBe(0);

    const reports = [1, 2].map((i) => JSON.parse(readFileSync(out(`good-${i}.json`), 'utf8')) as ProbeReport);
    expect(reports.map((r) => r.clients)).toEqual([30, 30]);
    for (const report of reports) {
      expect(report.disconnects).toEqual({ '0': 0, '1': 30, '2': 0, '3+': 0 });
      expect(report.closeCodes).toEqual({ 1012: 30 });
      expect(report.outgoingVersion).toBe('v1');
      expect(report.outgoingReconnectsAfterFirstIncoming).toBe(0);
      expect(report.connectedAtEnd).toBe(30);
      expect(report.failures).toBe(0);
    }
    // The watcher saw the rollout: the new pods created and ready, the old ones terminating, and no reconnect
    // reached a terminating pod.
    const rollout = reports[0]?.rollout;
    expect(rollout?.reconnectsToTerminatingPods).toBe(0);
    expect(rollout?.reconnectsToUnknownPods).toBe(0);
    const seen = (type: string) =>
      (rollout?.events ?? [])
        .filter((e) => e.type === type)
        .map((e) => e.pod)
        .sort();
    expect(seen('ready')).toEqual(['gw-v1-a', 'gw-v1-b', 'gw-v2-a', 'gw-v2-b']);
    expect(seen('terminating')).toEqual(['gw-v1-a', 'gw-v1-b']);

    // Merged, the shards are one fleet; its figures are the balancer's, connection for connection.
    // The drain window the pods were given (BUDGET: 1.5 s): peak / even is judged against it.
    const merged = probe([
      'merge',
      out('good-1.json'),
      out('good-2.json'),
      ...thresholds,
      '--window',
      '1.5',
      '--json',
      out('good.json'),
    ]);
    expect(await merged.exited, merged.stderr()).toBe(0);
    const report = JSON.parse(readFileSync(out('good.json'), 'utf8')) as ProbeReport;
    expect(report.meta.shards).toEqual(['1/2', '2/2']);
    expect(report.clients).toBe(60);
    expect(report.disconnects).toEqual({ '0': 0, '1': 60, '2': 0, '3+': 0 });
    expect(report.acceptsByVersion).toEqual({ v1: 60, v2: 60 });
    expect(plus(report.acceptsByVersion, report.refusedByVersion)).toEqual(balancerAccepts(balancer, versions));
    expect(report.outgoingReconnectsAfterFirstIncoming).toBe(0);
    expect(report.verdict).toEqual({ passed: true, violations: [] });
    expect(report.reconnects.evenOver).toEqual({ kind: 'window', seconds: 1.5 });
    expect(report.reconnects.evenPerSecond).toBe(60 / 1.5);
    expect(merged.stdout()).toContain('clients disconnected 0 / 1 / 2 / 3+ times');
    // The post-promotion gate's thresholds on the same run: it was not a v2-only run, and everybody moved.
    const gated = probe([
      'merge',
      out('good-1.json'),
      out('good-2.json'),
      '--expect-version',
      'v2',
      '--max-disconnected',
      '0',
    ]);
    expect(await gated.exited).toBe(1);
    expect(gated.stderr()).toContain('connections were served by other versions than v2: v1 60');
    expect(gated.stderr()).toContain('60 clients were disconnected (--max-disconnected 0)');
  });

  it('a bad release (pods that close everything, replaced one by one): clients disconnected twice, old pods take reconnects, exit 1', {
    timeout: 120_000,
  }, async () => {
    const env = { TICK_MS: '100' };
    const { v1a, v1b, v2a, v2b, versions, balancer } = await twoVersions('naive', env);
    const endpoint = (pod: GatewayProcess) => ({ port: pod.port, ready: true, terminating: false });
    await balancer.update([endpoint(v1a), endpoint(v1b)]);
    const run = probe([
      'release',
      ...fleetOf60(balancer),
      ...FAST_BACKOFF,
      '--max-multi',
      '0',
      '--max-outgoing',
      '0',
      '--json',
      out('bad.json'),
      '--html',
      out('bad.html'),
    ]);
    await until(async () => (await flowsOn(balancer, [v1a, v1b])) === 60, 'all 60 clients on v1');
    // A RollingUpdate of one pod at a time with pods that close everything: v1a's clients spread over v1b
    // and v2a, then v1b's (its own and v1a's) go to v2.
    await balancer.update([endpoint(v1b), endpoint(v2a)]);
    v1a.terminate();
    await v1a.exited;
    await until(async () => (await flowsOn(balancer, [v1b, v2a])) === 60, 'all back on v1b and v2a');
    await balancer.update([endpoint(v2a), endpoint(v2b)]);
    v1b.terminate();
    await v1b.exited;
    await until(async () => (await flowsOn(balancer, [v2a, v2b])) === 60, 'all back on v2');
    run.child.kill('SIGINT');
    expect(await run.exited, run.stderr()).toBe(1);
    expect(run.stderr()).toContain('threshold violated');
    expect(workersLeft()).toBe(0);
    const report = JSON.parse(readFileSync(out('bad.json'), 'utf8')) as ProbeReport;
    expect(report.disconnects['2'] + report.disconnects['3+']).toBeGreaterThan(0);
    expect(report.outgoingReconnectsAfterFirstIncoming).toBeGreaterThan(0);
    expect(report.verdict.passed).toBe(false);
    expect(report.verdict.violations).toHaveLength(2);
    expect(report.closeCodes['1001']).toBe(report.disconnects['1'] + 2 * report.disconnects['2']);
    // Every connection the balancer routed, the probe counted, by the version that served it.
    expect(plus(report.acceptsByVersion, report.refusedByVersion)).toEqual(balancerAccepts(balancer, versions));
    expect(readFileSync(out('bad.html'), 'utf8')).toContain('<svg class="chart reconnects"');
  });
});

describe('baton-probe bad input', () => {
  it.each([
    ['no URL', ['release', '--clients', '5', '--duration', '5'], '--url is required'],
    [
      'a wrong scheme',
      ['release', '--url', 'http://127.0.0.1:1/', '--clients', '5', '--duration', '5'],
      'ws:// or wss://',
    ],
    [
      '--clients 0',
      ['release', '--url', 'ws://127.0.0.1:1/', '--clients', '0', '--duration', '5'],
      '--clients must be',
    ],
    ['an unknown flag', ['release', '--url', 'ws://127.0.0.1:1/', '--clinets', '5'], 'unknown flag --clinets'],
    [
      'a bad shard',
      ['release', '--url', 'ws://127.0.0.1:1/', '--clients', '5', '--duration', '5', '--shard', '3/2'],
      '--shard',
    ],
    [
      'a bad --version-from',
      ['release', '--url', 'ws://x/', '--clients', '5', '--duration', '5', '--version-from', 'xml:v'],
      '--version-from',
    ],
    [
      'a header without a name',
      ['release', '--url', 'ws://x/', '--clients', '5', '--duration', '5', '--header', ':secret'],
      '--header',
    ],
    [
      'a ramp as long as the run',
      ['release', '--url', 'ws://x/', '--clients', '5', '--duration', '5', '--ramp', '5'],
      '--ramp',
    ],
    ['an unknown command', ['measure'], 'unknown command'],
    ['merge without files', ['merge'], 'merge needs'],
  ])('%s: a clear message and exit 2', async (_, args, message) => {
    const run = probe(args);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain(message);
    expect(run.stderr()).toContain('BATON_ERR_PROBE_USAGE');
  });

  it('an unreachable URL: exit 2 once every client failed, naming the error, nothing left behind', async () => {
    const run = probe([
      'release',
      '--url',
      'ws://127.0.0.1:1/',
      '--clients',
      '20',
      '--duration',
      '60',
      '--ramp',
      '0.2',
    ]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('ECONNREFUSED');
    expect(run.stderr()).toContain('BATON_ERR_PROBE_UNREACHABLE');
    expect(workersLeft()).toBe(0);
  });

  it('a TLS failure (wss:// to a server that speaks no TLS): exit 2, naming it', async () => {
    const server = await startWsServer('server');
    cleanups.push(() => server.close());
    const run = probe([
      'release',
      '--url',
      `wss://127.0.0.1:${server.port}/`,
      '--clients',
      '5',
      '--duration',
      '60',
      '--ramp',
      '0.2',
    ]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/BATON_ERR_PROBE_UNREACHABLE/);
    expect(run.stderr()).toMatch(/SSL|TLS|wrong version number|packet length/i);
  });

  it('a secret in --header never appears in the output', async () => {
    const secret = 'Bearer do-not-print-0123456789';
    const run = probe([
      'release',
      '--url',
      'ws://127.0.0.1:1/',
      '--clients',
      '2',
      '--duration',
      '60',
      '--ramp',
      '0.1',
      '--header',
      `Authorization:${secret}`,
    ]);
    expect(await run.exited).toBe(2);
    expect(run.stdout() + run.stderr()).not.toContain('do-not-print');
  });

  it('merge refuses a file that is not a probe report, and shards of different URLs', async () => {
    writeFileSync(out('not-a-report.json'), '{"clients": 3}');
    const bad = probe(['merge', out('not-a-report.json')]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('BATON_ERR_PROBE_REPORT');
    const missing = probe(['merge', out('missing.json')]);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toContain('cannot read');
    const shard = (url: string, index: number) =>
      buildReport(
        runFromRecords([], { startedAt: 0, endedAt: 1_000, kind: 'plain' }),
        { url, shards: [`${index}/2`], clients: 0, durationSeconds: 1 },
        {},
      );
    writeFileSync(out('shard-a.json'), JSON.stringify(shard('ws://a/', 1)));
    writeFileSync(out('shard-b.json'), JSON.stringify(shard('ws://b/', 2)));
    const mixed = probe(['merge', out('shard-a.json'), out('shard-b.json')]);
    expect(await mixed.exited).toBe(2);
    expect(mixed.stderr()).toContain('probed ws://b/');
    const twice = probe(['merge', out('shard-a.json'), out('shard-a.json')]);
    expect(await twice.exited).toBe(2);
    expect(twice.stderr()).toContain('the same shard appears twice');
  });

  it('killed with SIGKILL mid-run, it leaves no fleet worker behind', async () => {
    const server = await startWsServer('server');
    cleanups.push(() => server.close());
    const run = probe(['release', '--url', server.url, '--clients', '30', '--duration', '60', '--ramp', '0.2']);
    await new Promise<void>((resolve) => {
      const onConnection = () => {
        if (server.wss.clients.size < 30) return;
        server.wss.off('connection', onConnection);
        resolve();
      };
      server.wss.on('connection', onConnection);
    });
    expect(workersLeft()).toBeGreaterThan(0);
    run.child.kill('SIGKILL');
    await run.exited;
    // The workers end when their IPC channel closes; the server sees every client go.
    await until(async () => server.wss.clients.size === 0 && workersLeft() === 0, 'workers gone', 10_000);
  });
});
