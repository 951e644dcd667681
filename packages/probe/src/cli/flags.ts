// baton-probe's flags: parsed strictly (an unknown flag is an error, not ignored) and validated up front,
// each refusal a ProbeError with code BATON_ERR_PROBE_USAGE and a message that says what to write instead.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ClusterFacts, Dataplane, LbKind } from '../check/gateway-view.js';
import { ProbeError, ProbeErrorCodes } from '../errors.js';
import type { Thresholds } from '../figures/probe-report.js';
import { parseVersionSource } from '../fleet/identify.js';
import type { ReleaseProbeOptions } from '../release.js';

/** One machine's share: a fleet larger than this is sharded (--shard i/n) over several machines. */
export const MAX_CLIENTS_PER_MACHINE = 60_000;

function usage(message: string): ProbeError {
  return new ProbeError(ProbeErrorCodes.USAGE, message);
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    // node's own message names the flag; say it shorter, and where the flags are listed.
    throw usage(unknown ? `unknown flag ${unknown[1]} (baton-probe --help lists them)` : message);
  }
}

function number(
  name: string,
  raw: string | undefined,
  rule: { integer?: boolean; min: number; max?: number; above?: boolean },
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(value) &&
    (!rule.integer || Number.isInteger(value)) &&
    (rule.above ? value > rule.min : value >= rule.min) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) {
    const kind = rule.integer ? 'an integer' : 'a number';
    const range = `${rule.above ? '>' : '≥'} ${rule.min}${rule.max === undefined ? '' : ` and ≤ ${rule.max}`}`;
    throw usage(`--${name} must be ${kind} ${range}; got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The flags release and merge share: what a report is judged by and where it goes. */
const REPORT_FLAGS = {
  'max-multi': { type: 'string' },
  'max-outgoing': { type: 'string' },
  'max-disconnected': { type: 'string' },
  'expect-version': { type: 'string' },
  window: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

function reportFlags(values: Record<string, unknown>): {
  thresholds: Thresholds;
  windowSeconds: number | undefined;
  outputs: { json?: string; html?: string };
} {
  return {
    thresholds: thresholds(values),
    windowSeconds: number('window', values.window as string | undefined, { min: 0, above: true }),
    outputs: {
      ...(values.json ? { json: values.json as string } : {}),
      ...(values.html ? { html: values.html as string } : {}),
    },
  };
}

function thresholds(values: Record<string, unknown>): Thresholds {
  const maxMulti = number('max-multi', values['max-multi'] as string | undefined, { integer: true, min: 0 });
  const maxOutgoing = number('max-outgoing', values['max-outgoing'] as string | undefined, { integer: true, min: 0 });
  const maxDisconnected = number('max-disconnected', values['max-disconnected'] as string | undefined, {
    integer: true,
    min: 0,
  });
  const expectVersion = values['expect-version'] as string | undefined;
  if (expectVersion !== undefined && !/^[\x21-\x7e]{1,253}$/.test(expectVersion))
    throw usage(
      `--expect-version must be a version as the gateway names it (visible ASCII); got ${JSON.stringify(expectVersion)}`,
    );
  return {
    ...(maxMulti === undefined ? {} : { maxMulti }),
    ...(maxOutgoing === undefined ? {} : { maxOutgoing }),
    ...(maxDisconnected === undefined ? {} : { maxDisconnected }),
    ...(expectVersion === undefined ? {} : { expectVersion }),
  };
}

export interface ReleaseCommand {
  probe: ReleaseProbeOptions;
  json?: string;
  html?: string;
}

export function releaseCommand(args: string[]): ReleaseCommand {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    clients: { type: 'string' },
    duration: { type: 'string' },
    ramp: { type: 'string' },
    'backoff-max': { type: 'string', default: '300' },
    'backoff-initial': { type: 'string', default: '1' },
    kind: { type: 'string', default: 'plain' },
    header: { type: 'string', multiple: true },
    ...REPORT_FLAGS,
    'version-from': { type: 'string', default: 'headers' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    selector: { type: 'string' },
    shard: { type: 'string' },
    'source-address': { type: 'string', multiple: true },
  });
  if (positionals.length > 0) throw usage(`release takes flags only; unexpected ${JSON.stringify(positionals[0])}`);
  const url = values.url as string | undefined;
  if (!url) throw usage("--url is required: the ws:// or wss:// address clients connect to (the Service's LB)");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usage(`--url must be a ws:// or wss:// URL; got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    throw usage(`--url must be a ws:// or wss:// URL; got the scheme ${parsed.protocol.replace(/:$/, '')}`);
  const total = number('clients', values.clients as string | undefined, { integer: true, min: 1 });
  if (total === undefined) throw usage('--clients is required: how many clients to connect (e.g. 1000)');
  const durationSeconds = number('duration', values.duration as string | undefined, { min: 0, above: true });
  if (durationSeconds === undefined)
    throw usage('--duration is required: seconds to measure, long enough for the whole release (e.g. 600)');
  const rampSeconds =
    number('ramp', values.ramp as string | undefined, { min: 0 }) ?? Math.min(10, durationSeconds / 4);
  if (rampSeconds >= durationSeconds)
    throw usage(`--ramp (${rampSeconds} s) must be shorter than --duration (${durationSeconds} s)`);
  const backoffMaxSeconds = number('backoff-max', values['backoff-max'] as string, { min: 0, above: true }) as number;
  const backoffInitialSeconds = number('backoff-initial', values['backoff-initial'] as string, {
    min: 0,
    above: true,
  }) as number;
  if (backoffInitialSeconds > backoffMaxSeconds)
    throw usage(`--backoff-initial (${backoffInitialSeconds}) must not exceed --backoff-max (${backoffMaxSeconds})`);
  const kind = values.kind as string;
  if (kind !== 'plain' && kind !== 'baton') throw usage(`--kind must be plain or baton; got ${JSON.stringify(kind)}`);
  const headers: Record<string, string> = {};
  for (const header of (values.header as string[] | undefined) ?? []) {
    const at = header.indexOf(':');
    const name = header.slice(0, at).trim();
    const value = header.slice(at + 1).trim();
    if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(value))
      // The value may be a secret (a cookie, a token): never quoted.
      throw usage(`--header must be NAME:VALUE with a valid header name; got one named ${JSON.stringify(name)}`);
    headers[name] = value;
  }
  const versionFrom = parseVersionSource(values['version-from'] as string);
  if (!versionFrom)
    throw usage(
      `--version-from must be headers, header:NAME or json:PATH (e.g. json:version); got ${JSON.stringify(values['version-from'])}`,
    );
  let shard: ReleaseProbeOptions['shard'];
  let clients = total;
  if (values.shard !== undefined) {
    const match = /^(\d+)\/(\d+)$/.exec(values.shard as string);
    const index = Number(match?.[1]);
    const count = Number(match?.[2]);
    if (!match || count < 1 || index < 1 || index > count)
      throw usage(`--shard must be i/n with 1 ≤ i ≤ n (this machine's part of n); got ${JSON.stringify(values.shard)}`);
    shard = { index, count };
    clients = Math.floor(total / count) + (index <= total % count ? 1 : 0);
    if (clients === 0) throw usage(`--shard ${index}/${count} of ${total} clients leaves this shard none`);
  }
  if (clients > MAX_CLIENTS_PER_MACHINE)
    throw usage(
      `--clients ${clients} on one machine is over ${MAX_CLIENTS_PER_MACHINE}: run shards (--shard i/n) on several machines and merge their reports`,
    );
  const sourceAddresses = (values['source-address'] as string[] | undefined) ?? [];
  for (const address of sourceAddresses) {
    if (!/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(address))
      throw usage(`--source-address must be an IP address of this machine; got ${JSON.stringify(address)}`);
  }
  const report = reportFlags(values);
  const selector = values.selector as string | undefined;
  if ((values.kubeconfig || values.namespace) && !selector)
    throw usage("--kubeconfig and --namespace watch the rollout only with --selector (the gateway pods' labels)");
  return {
    probe: {
      url,
      clients,
      durationSeconds,
      rampSeconds,
      backoffMaxSeconds,
      backoffInitialSeconds,
      kind,
      headers,
      versionFrom,
      sourceAddresses,
      thresholds: report.thresholds,
      ...(report.windowSeconds === undefined ? {} : { windowSeconds: report.windowSeconds }),
      ...(shard ? { shard } : {}),
      ...(selector
        ? {
            cluster: {
              selector,
              ...(values.kubeconfig ? { kubeconfig: values.kubeconfig as string } : {}),
              ...(values.namespace ? { namespace: values.namespace as string } : {}),
            },
          }
        : {}),
    },
    ...report.outputs,
  };
}

export interface MergeCommand {
  files: string[];
  thresholds: Thresholds;
  windowSeconds?: number;
  json?: string;
  html?: string;
}

export function mergeCommand(args: string[]): MergeCommand {
  const { values, positionals } = parse(args, {
    ...REPORT_FLAGS,
  });
  if (positionals.length === 0) throw usage("merge needs the shards' JSON reports: baton-probe merge a.json b.json …");
  const { thresholds, windowSeconds, outputs } = reportFlags(values);
  return {
    files: positionals,
    thresholds,
    ...(windowSeconds === undefined ? {} : { windowSeconds }),
    ...outputs,
  };
}

export interface CheckCommand {
  /** Manifest files ('-' is standard input); empty with `live`. */
  readonly files: string[];
  /** Read the namespace's objects from the cluster instead (kubeconfig, namespace). */
  readonly live: { kubeconfig?: string; namespace?: string } | undefined;
  readonly facts: ClusterFacts;
  /** Only this workload ("Deployment/NAME" or "Rollout/NAME"); default: every Baton workload found. */
  readonly workload: string | undefined;
  /** Print JSON instead of the table. */
  readonly json: boolean;
}

export function checkCommand(args: string[]): CheckCommand {
  const { values, positionals } = parse(args, {
    file: { type: 'string', short: 'f', multiple: true },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    live: { type: 'boolean' },
    dataplane: { type: 'string' },
    'kubernetes-version': { type: 'string' },
    'lb-kind': { type: 'string' },
    'connection-lifetime': { type: 'string' },
    workload: { type: 'string' },
    json: { type: 'boolean' },
  });
  const workload = values.workload as string | undefined;
  if (workload !== undefined && !/^(Deployment|Rollout)\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(workload))
    throw usage(`--workload must be Deployment/NAME or Rollout/NAME; got ${JSON.stringify(workload)}`);
  if (positionals.length > 0) throw usage(`unexpected ${JSON.stringify(positionals[0])}: give files with -f FILE`);
  const files = (values.file as string[] | undefined) ?? [];
  const live = values.live === true || values.kubeconfig !== undefined || values.namespace !== undefined;
  if (files.length > 0 && live)
    throw usage('give either -f FILE (rendered manifests) or --live/--kubeconfig/--namespace');
  if (files.length === 0 && !live) {
    throw usage(
      "check needs -f FILE (e.g. helm template … | baton-probe check -f -) or --live (the kubeconfig's cluster)",
    );
  }
  const dataplane = values.dataplane as string | undefined;
  if (dataplane !== undefined && dataplane !== 'v2' && dataplane !== 'kube-proxy')
    throw usage(`--dataplane must be v2 (GKE Dataplane V2, Cilium) or kube-proxy; got ${JSON.stringify(dataplane)}`);
  const lbKind = values['lb-kind'] as string | undefined;
  if (lbKind !== undefined && lbKind !== 'target-pool' && lbKind !== 'backend-service')
    throw usage(`--lb-kind must be target-pool or backend-service; got ${JSON.stringify(lbKind)}`);
  const version = values['kubernetes-version'] as string | undefined;
  if (version !== undefined && !/^v?\d+\.\d+/.test(version))
    throw usage(`--kubernetes-version must look like 1.31 or v1.31.4-gke.1000; got ${JSON.stringify(version)}`);
  const lifetime = number('connection-lifetime', values['connection-lifetime'] as string | undefined, {
    min: 0,
    above: true,
  });
  return {
    files,
    live: live
      ? {
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig as string } : {}),
          ...(values.namespace ? { namespace: values.namespace as string } : {}),
        }
      : undefined,
    facts: {
      ...(dataplane ? { dataplane: dataplane as Dataplane } : {}),
      ...(lbKind ? { lbKind: lbKind as LbKind } : {}),
      ...(version ? { kubernetesVersion: version } : {}),
      ...(lifetime === undefined ? {} : { connectionLifetimeSeconds: lifetime }),
    },
    workload,
    json: values.json === true,
  };
}
