#!/usr/bin/env node
// baton-probe: measure a real release from the clients' side.
//
//   baton-probe release --url ws://LB:80/ --clients 1000 --duration 600 [flags]   (see --help)
//   baton-probe merge shard-1.json shard-2.json … [--json F] [--html F] [--max-multi K] [--max-outgoing M]
//
// Exit codes: 0 thresholds met (or none given), 1 a threshold violated, 2 bad usage or nothing could connect.

import { readFileSync, writeFileSync } from 'node:fs';
import { checkObjects } from './check/check.js';
import { checkTable } from './check/check-report.js';
import { readCluster } from './check/cluster-objects.js';
import { readManifests } from './check/manifests.js';
import type { KObject } from './check/objects.js';
import {
  type CheckCommand,
  checkCommand,
  type MergeCommand,
  mergeCommand,
  type ReleaseCommand,
  releaseCommand,
} from './cli/flags.js';
import { progressLine } from './cli/progress-line.js';
import { ProbeError } from './errors.js';
import { asReport, mergeReports, type ProbeReport } from './figures/probe-report.js';
import { probeRelease } from './release.js';
import { htmlReport } from './report/report-html.js';
import { reportTable } from './report/table.js';

const HELP = `baton-probe: measure a release from the clients' side (docs/probe.md).

baton-probe release --url URL --clients N --duration S [flags]
  --url URL            ws:// or wss:// address the clients connect to (the Service's load balancer)
  --clients N          clients in the fleet (with --shard: the whole fleet's size)
  --duration S         seconds to measure; start the release after the ramp, end after it
  --ramp S             spread the first connections over S seconds (default: a quarter of --duration, at most 10)
  --backoff-max S      plain clients reconnect with capped exponential back-off and full jitter, cap S
                       (default 300); --backoff-initial S: the first cap (default 1)
  --kind plain|baton   plain ws clients (default), or @baton/client clients that follow hints and resume
  --header K:V         a request header every connection sends (repeatable: cookies, tokens)
  --version-from SRC   which version served a connection: headers (Baton-Version / Baton-Pod, default),
                       header:NAME, or json:PATH (a field of the first server message, e.g. json:version)
  --max-multi K        fail (exit 1) when more than K clients were disconnected more than once
  --max-outgoing M     fail (exit 1) when the outgoing version took more than M reconnects after the first
                       connection to another version
  --max-disconnected K fail when more than K clients were disconnected at all
  --expect-version V   fail when any connection was served by another version than V (a gate right
                       after a selector flip: Argo's post-promotion analysis, docs/probe.md)
  --window S           the drain window the release should spread its reconnects over (the drain logs it as
                       windowMs; the chart's drain.drainWindowSeconds): peak / even is then judged against N / S.
                       Default: the reconnects' own spread, which a burst also fills evenly
  --json FILE          write the JSON report (the input of merge)
  --html FILE          write the self-contained HTML report
  --selector SEL       watch the gateway pods (label selector, read-only: list/watch pods) and put the
                       rollout on the time line; --kubeconfig FILE, --namespace NS (default: the context's)
  --shard i/n          run this machine's part of a fleet spread over n machines; merge the reports after
  --source-address IP  spread the clients over these local addresses (repeatable) when one runs out of ports

baton-probe merge a.json b.json … [--json FILE] [--html FILE] [--window S] [thresholds as above]

baton-probe check -f FILE … | --live [flags]     audit a configuration before a release (docs/check.md)
  -f FILE              rendered manifests, YAML or JSON (repeatable; - reads standard input):
                       helm template … | baton-probe check -f -
  --live               read the objects from the cluster instead (read-only): --kubeconfig FILE, --namespace NS
  --dataplane D        v2 (GKE Dataplane V2, Cilium) or kube-proxy, when the objects cannot say
  --kubernetes-version V   e.g. 1.31, when the objects cannot say
  --lb-kind K          target-pool or backend-service: the kind of a LoadBalancer Service without GKE's
                       cloud.google.com/l4-rbs annotation (default: assume a target pool, the slower)
  --connection-lifetime S  how long a WebSocket should live behind an L7 load balancer (default 3600)
  --workload KIND/NAME only this Deployment or Rollout (default: every Baton workload found)
  --json               print JSON instead of the table
  Exit codes: 0 no error-level rule failed, 1 one did (or no Baton workload was found), 2 bad usage.

Exit codes: 0 thresholds met (or none given), 1 a threshold violated, 2 bad usage or nothing could connect.
Run it from outside the cluster: from inside, kube-proxy short-circuits the LB's address and the LB is not measured.`;

function writeOutputs(report: ProbeReport, json: string | undefined, html: string | undefined, title: string): void {
  if (json) writeFileSync(json, `${JSON.stringify(report)}\n`);
  if (html) {
    const intro = `${report.meta.clients} ${report.kind} clients against ${report.meta.url}, measured for ${report.durationSeconds.toFixed(0)} s${report.meta.shards.length > 1 ? ` (${report.meta.shards.length} shards merged)` : ''}.`;
    writeFileSync(html, htmlReport(title, intro, [{ name: 'this release', figures: report }]));
  }
}

function finish(report: ProbeReport): number {
  console.log(
    reportTable([{ name: 'this release', figures: report, model: `${report.kind} clients → ${report.meta.url}` }]),
  );
  for (const violation of report.verdict.violations) console.error(`baton-probe: threshold violated: ${violation}`);
  return report.verdict.passed ? 0 : 1;
}

async function release(command: ReleaseCommand): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tty = process.stderr.isTTY;
  try {
    const report = await probeRelease({
      ...command.probe,
      signal: controller.signal,
      ...(tty
        ? {
            onProgress: (progress, elapsed) =>
              process.stderr.write(`\r\x1b[2K${progressLine(progress, elapsed, command.probe.durationSeconds)}`),
          }
        : {}),
    });
    if (tty) process.stderr.write('\n');
    writeOutputs(report, command.json, command.html, 'Baton probe: one release');
    return finish(report);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function merge(command: MergeCommand): number {
  const reports = command.files.map((file) => {
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ProbeError('BATON_ERR_PROBE_REPORT', `cannot read ${file}: ${(error as Error).message}`);
    }
    return { file, report: asReport(value, file) };
  });
  const merged = mergeReports(reports, command.thresholds, command.windowSeconds);
  writeOutputs(merged, command.json, command.html, 'Baton probe: one release, shards merged');
  return finish(merged);
}

async function check(command: CheckCommand): Promise<number> {
  let objects: KObject[] = [];
  let facts = command.facts;
  if (command.live) {
    const read = await readCluster(command.live);
    objects = read.objects;
    // What the flags say wins over what the cluster was read as.
    facts = { ...read.facts, ...command.facts };
    if (read.unread.length > 0)
      console.error(`baton-probe: not read from namespace ${read.namespace}: ${read.unread.join(', ')}`);
  } else {
    for (const file of command.files) {
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (error) {
        throw new ProbeError('BATON_ERR_PROBE_USAGE', `cannot read ${file}: ${(error as Error).message}`);
      }
      objects.push(...readManifests(text, file === '-' ? 'standard input' : file));
    }
  }
  const report = checkObjects(objects, facts, command.workload);
  console.log(command.json ? JSON.stringify(report, null, 2) : checkTable(report));
  return report.passed ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  if (command === 'release') return release(releaseCommand(rest));
  if (command === 'merge') return merge(mergeCommand(rest));
  if (command === 'check') return check(checkCommand(rest));
  throw new ProbeError('BATON_ERR_PROBE_USAGE', `unknown command ${JSON.stringify(command)}: release, merge or check`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ProbeError) console.error(`baton-probe: ${error.message} (${error.code})`);
    else console.error('baton-probe: unexpected failure', error);
    process.exitCode = 2;
  },
);
