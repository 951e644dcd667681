// The figures of a probe run — the same for the probe and the lab, so their tables compare by construction.
// Times are real seconds (a lab run's compressed clock is scaled back by its timeScale).

import type { ProbeRun } from './probe-run.js';

export type Histogram = { '0': number; '1': number; '2': number; '3+': number };

export interface ProbeFigures {
  clients: number;
  kind: 'plain' | 'baton';
  connectedAtEnd: number;
  /** Clients that never had a connection during the run. */
  neverConnected: number;
  /** Clients by app-visible disconnects during the run (a + b + c + d = clients). */
  disconnects: Histogram;
  /** Baton clients: by disconnects + moves (each time a client changed pod); null for plain clients. */
  moves: Histogram | null;
  /** Every accepted connection (first and later) by the version that served it ('?' when unnamed). */
  acceptsByVersion: Record<string, number>;
  /** Reconnects and moves only, by version. */
  reconnectsByVersion: Record<string, number>;
  /** Upgrades answered with a status (503 from a draining pod, admission control) by version. */
  refusedByVersion: Record<string, number>;
  /** The version that served most clients' first connection; null when nothing connected. */
  outgoingVersion: string | null;
  /** Seconds from the start to the first connection any other version accepted; null: none did. */
  firstIncomingSeconds: number | null;
  /** Reconnects (and moves) the outgoing version accepted after that first other-version accept. */
  outgoingReconnectsAfterFirstIncoming: number;
  /** Reconnects and moves (connections after a client's first) during the run. */
  reconnects: {
    total: number;
    /** Bin width of `perBin`, real seconds. */
    binSeconds: number;
    /** Reconnects (and moves) in each bin since the start. */
    perBin: number[];
    /** The busiest bin as a rate, per real second. */
    peakPerSecond: number;
    /**
     * Real seconds from the 1st to the 99th percentile of the reconnects' times (first to last below 100
     * reconnects): how long they took, a few stragglers on a long back-off aside. A burst shows as a short spread.
     */
    spreadSeconds: number;
    /** What the even rate spreads the reconnects over: the drain window given (`--window`), or their own spread. */
    evenOver: { kind: 'window' | 'spread'; seconds: number };
    /** All reconnects spread evenly over `evenOver`, per real second. */
    evenPerSecond: number;
  };
  /**
   * peakPerSecond / evenPerSecond: 1 is perfectly spread. Over their own spread a burst also scores near 1 (its
   * spread is short): give the drain window (`windowSeconds`, the CLI's `--window`) to judge against the
   * window the release should use. null with fewer than two reconnects.
   */
  peakToEven: number | null;
  /** App-visible disconnects by close code (1012: a drain's close; 1006: no close frame). */
  closeCodes: Record<string, number>;
  durationSeconds: number;
  /** Open connections per version at the end of each bin. */
  connectionsByVersion: { t: number; counts: Record<string, number> }[];
  /** With cluster access: the rollout's events (seconds since the start), reconnects to terminating pods. */
  rollout: {
    events: { t: number; type: string; pod: string; replicaSet: string }[];
    reconnectsToTerminatingPods: number;
    /** Reconnects whose pod the probe could not match to a watched pod (no Baton-Pod header). */
    reconnectsToUnknownPods: number;
  } | null;
  /** Baton clients: sessions resumed and refused, ticks lost or duplicated (the example gateways' ticks). */
  sessions: { resumed: number; resumeFailed: number; ticksLost: number; ticksDuplicated: number } | null;
  /** Attempts that failed below HTTP, and the last failure's message. */
  failures: number;
  lastError: string | null;
}

export interface SummarizeOptions {
  /** Bin width in real seconds. Default 1. */
  binSeconds?: number;
  /** The version that served the clients before the run (the lab's release knows it); default: the majority of first connections. */
  outgoingVersion?: string;
  /** The window the release should spread its reconnects over (the drain window), real seconds. Default: their spread. */
  windowSeconds?: number;
}

function histogram(values: number[]): Histogram {
  const h: Histogram = { '0': 0, '1': 0, '2': 0, '3+': 0 };
  for (const value of values) h[value >= 3 ? '3+' : (String(Math.max(0, value)) as '0' | '1' | '2')]++;
  return h;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function majority(counts: Record<string, number>): string | null {
  let best: string | null = null;
  for (const [key, n] of Object.entries(counts)) if (best === null || n > (counts[best] as number)) best = key;
  return best;
}

export function summarize(run: ProbeRun, options: SummarizeOptions = {}): ProbeFigures {
  const binSeconds = options.binSeconds ?? 1;
  const realSeconds = (ms: number) => ms / 1000 / run.timeScale;
  const binOf = (at: number) => Math.max(0, Math.floor(realSeconds(at - run.startedAt) / binSeconds));
  // A run may carry connections made before its span (the lab's, opened before the release): they tell who
  // served the clients and what was open when it began, but only the span's own connections count.
  const connections = run.connections.filter((c) => c.at >= run.startedAt);
  const reconnects = connections.filter((c) => c.kind !== 'first');
  const outgoingVersion =
    options.outgoingVersion ??
    majority(
      countBy(
        run.connections.filter((c) => c.kind === 'first'),
        (c) => c.version,
      ),
    );
  const firstIncoming = connections.find((c) => outgoingVersion !== null && c.version !== outgoingVersion);
  const bins = Math.max(1, binOf(run.endedAt) + 1);
  const perBin = new Array<number>(bins).fill(0);
  for (const c of reconnects) {
    const bin = Math.min(bins - 1, binOf(c.at));
    perBin[bin] = (perBin[bin] as number) + 1;
  }
  const { span, inSpan } = centralSpan(reconnects.map((c) => c.at));
  const peakPerSecond = Math.max(0, ...perBin) / binSeconds;
  const spreadSeconds = realSeconds(span);
  // No even rate finer than a bin: the peak is measured in bins.
  const evenOver =
    options.windowSeconds !== undefined
      ? { kind: 'window' as const, seconds: Math.max(options.windowSeconds, binSeconds) }
      : { kind: 'spread' as const, seconds: Math.max(spreadSeconds, binSeconds) };
  const evenCount = evenOver.kind === 'window' ? reconnects.length : inSpan;
  const evenPerSecond = reconnects.length > 1 ? evenCount / evenOver.seconds : 0;
  return {
    clients: run.clients.length,
    kind: run.kind,
    connectedAtEnd: run.clients.filter((c) => c.connected).length,
    neverConnected: run.clients.length - new Set(run.connections.map((c) => c.client)).size,
    disconnects: histogram(run.clients.map((c) => c.disconnects)),
    moves: run.kind === 'baton' ? histogram(run.clients.map((c) => c.disconnects + c.migrations)) : null,
    acceptsByVersion: countBy(connections, (c) => c.version),
    reconnectsByVersion: countBy(reconnects, (c) => c.version),
    refusedByVersion: countBy(run.refusals, (r) => r.version),
    outgoingVersion,
    firstIncomingSeconds: firstIncoming ? realSeconds(firstIncoming.at - run.startedAt) : null,
    outgoingReconnectsAfterFirstIncoming: firstIncoming
      ? reconnects.filter((c) => c.version === outgoingVersion && c.at > firstIncoming.at).length
      : 0,
    reconnects: { total: reconnects.length, binSeconds, perBin, peakPerSecond, spreadSeconds, evenOver, evenPerSecond },
    peakToEven: evenPerSecond > 0 ? peakPerSecond / evenPerSecond : null,
    closeCodes: countBy(
      run.clients.flatMap((c) => c.closeCodes),
      (code) => String(code),
    ),
    durationSeconds: realSeconds(run.endedAt - run.startedAt),
    connectionsByVersion: openPerBin(run, bins, binSeconds),
    rollout: rolloutFigures(run, reconnects),
    sessions:
      run.kind === 'baton'
        ? {
            resumed: sum(run.clients.map((c) => c.resumed)),
            resumeFailed: sum(run.clients.map((c) => c.resumeFailed)),
            ticksLost: sum(run.clients.map((c) => c.ticksLost)),
            ticksDuplicated: sum(run.clients.map((c) => c.ticksDuplicated)),
          }
        : null,
    failures: sum(run.clients.map((c) => c.failures)),
    lastError: run.lastError ?? null,
  };
}

/**
 * The span most reconnects fell in: from the 1st to the 99th percentile of their times (all of them below 100
 * reconnects), and how many fell in it. A few stragglers (a client that backed off for minutes after a failed
 * attempt) would otherwise stretch the span, lower the even rate and inflate peak / even.
 */
function centralSpan(times: number[]): { span: number; inSpan: number } {
  if (times.length < 2) return { span: 0, inSpan: times.length };
  const sorted = [...times].sort((a, b) => a - b);
  const trim = sorted.length >= 100 ? Math.floor(sorted.length / 100) : 0;
  const first = sorted[trim] as number;
  const last = sorted[sorted.length - 1 - trim] as number;
  return { span: last - first, inSpan: sorted.length - 2 * trim };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Connections open at the end of each bin, per version: a sweep over opens and closes. */
function openPerBin(run: ProbeRun, bins: number, binSeconds: number): ProbeFigures['connectionsByVersion'] {
  const binMs = binSeconds * 1000 * run.timeScale;
  const out: ProbeFigures['connectionsByVersion'] = [];
  for (let bin = 0; bin < bins; bin++) {
    const end = Math.min(run.endedAt, run.startedAt + (bin + 1) * binMs);
    const counts: Record<string, number> = {};
    for (const c of run.connections) {
      if (c.at <= end && (c.closedAt === null || c.closedAt > end)) counts[c.version] = (counts[c.version] ?? 0) + 1;
    }
    out.push({ t: (bin + 1) * binSeconds, counts });
  }
  return out;
}

function rolloutFigures(run: ProbeRun, reconnects: ProbeRun['connections']): ProbeFigures['rollout'] {
  if (!run.rollout) return null;
  const terminatingAt = new Map<string, number>();
  const known = new Set<string>();
  for (const event of run.rollout) {
    known.add(event.pod);
    if ((event.type === 'terminating' || event.type === 'deleted') && !terminatingAt.has(event.pod))
      terminatingAt.set(event.pod, event.at);
  }
  return {
    events: run.rollout.map((e) => ({
      t: (e.at - run.startedAt) / 1000 / run.timeScale,
      type: e.type,
      pod: e.pod,
      replicaSet: e.replicaSet,
    })),
    reconnectsToTerminatingPods: reconnects.filter((c) => (terminatingAt.get(c.pod) ?? Infinity) <= c.at).length,
    reconnectsToUnknownPods: reconnects.filter((c) => !known.has(c.pod)).length,
  };
}
