// The probe's arithmetic on runs written out by hand: what each figure counts, at its edges. (The figures of
// real runs are checked against a load balancer's own count in test/probe.test.ts and the lab's tests.)

import { describe, expect, it } from 'vitest';
import { buildReport, mergeReports, type ProbeRun, type RunConnection, summarize } from '../src/index.js';

const T0 = 1_000_000;

function client(disconnects: number, extra: Partial<ProbeRun['clients'][number]> = {}) {
  return {
    disconnects,
    migrations: 0,
    closeCodes: Array.from({ length: disconnects }, () => 1012),
    connected: true,
    resumed: 0,
    resumeFailed: 0,
    ticksLost: 0,
    ticksDuplicated: 0,
    failures: 0,
    ...extra,
  };
}

function connection(client: number, atSeconds: number, version: string, kind: RunConnection['kind']): RunConnection {
  return { client, at: T0 + atSeconds * 1000, closedAt: null, kind, version, pod: `${version}-pod` };
}

function run(connections: RunConnection[], clients: ProbeRun['clients'], endSeconds = 10): ProbeRun {
  return {
    startedAt: T0,
    endedAt: T0 + endSeconds * 1000,
    kind: 'plain',
    timeScale: 1,
    clients,
    connections: [...connections].sort((a, b) => a.at - b.at),
    refusals: [],
    rollout: null,
  };
}

describe('summarize', () => {
  it('counts clients by disconnects, and accepts and reconnects by version', () => {
    const figures = summarize(
      run(
        [
          connection(0, 0, 'v1', 'first'),
          connection(1, 0, 'v1', 'first'),
          connection(2, 0, 'v1', 'first'),
          connection(0, 3, 'v2', 'reconnect'),
          connection(1, 4, 'v1', 'reconnect'),
          connection(1, 6, 'v2', 'reconnect'),
        ],
        [client(1), client(2), client(0)],
      ),
    );
    expect(figures.disconnects).toEqual({ '0': 1, '1': 1, '2': 1, '3+': 0 });
    expect(figures.acceptsByVersion).toEqual({ v1: 4, v2: 2 });
    expect(figures.reconnectsByVersion).toEqual({ v1: 1, v2: 2 });
    expect(figures.outgoingVersion).toBe('v1');
    expect(figures.firstIncomingSeconds).toBe(3);
    // Client 1's reconnect to v1 at 4 s came after v2's first accept at 3 s: one outgoing reconnect.
    expect(figures.outgoingReconnectsAfterFirstIncoming).toBe(1);
    expect(figures.closeCodes).toEqual({ 1012: 3 });
    expect(figures.moves).toBeNull();
  });

  it('does not count an outgoing reconnect before the first incoming accept, nor first connections', () => {
    const figures = summarize(
      run(
        [
          connection(0, 0, 'v1', 'first'),
          connection(1, 0, 'v1', 'first'),
          connection(0, 1, 'v1', 'reconnect'),
          connection(1, 2, 'v2', 'reconnect'),
          connection(2, 3, 'v1', 'first'),
        ],
        [client(1), client(1), client(0)],
      ),
    );
    expect(figures.outgoingReconnectsAfterFirstIncoming).toBe(0);
  });

  it('counts only the span: connections before it show who served the clients, not what the release did', () => {
    const figures = summarize({
      ...run(
        [connection(0, -5, 'v1', 'first'), connection(1, -5, 'v1', 'first'), connection(0, 2, 'v2', 'reconnect')],
        [client(1), client(0)],
      ),
    });
    expect(figures.acceptsByVersion).toEqual({ v2: 1 });
    expect(figures.outgoingVersion).toBe('v1');
    expect(figures.neverConnected).toBe(0);
    // Open at the end of the first second: both v1 connections (made before the span), nothing of v2 yet.
    expect(figures.connectionsByVersion[0]).toEqual({ t: 1, counts: { v1: 2 } });
  });

  it('peak / even: 1 for perfectly even reconnects; stragglers beyond the 99th percentile do not stretch the span', () => {
    const even = Array.from({ length: 100 }, (_, i) => connection(i, 10 + i / 10, 'v2', 'reconnect'));
    const clients = Array.from({ length: 100 }, () => client(1));
    const figures = summarize(run(even, clients, 30));
    expect(figures.reconnects.peakPerSecond).toBe(10);
    expect(figures.peakToEven).toBeCloseTo(10 / (98 / 9.7), 5);
    // One straggler 200 s later: the span stays where the others are.
    const straggled = summarize(run([...even.slice(0, 99), connection(99, 200, 'v2', 'reconnect')], clients, 210));
    expect(straggled.reconnects.evenPerSecond).toBeCloseTo(98 / 9.7, 5);
    expect(summarize(run([connection(0, 1, 'v2', 'reconnect')], [client(1)])).peakToEven).toBeNull();
  });

  it('a burst fills its own spread evenly: the spread says so, and against the drain window it is a peak', () => {
    const burst = Array.from({ length: 200 }, (_, i) => connection(i, 20 + i / 400, 'v2', 'reconnect'));
    const clients = Array.from({ length: 200 }, () => client(1));
    const own = summarize(run(burst, clients, 90));
    expect(own.reconnects.spreadSeconds).toBeLessThan(1);
    expect(own.reconnects.evenOver).toEqual({ kind: 'spread', seconds: 1 });
    expect(own.peakToEven).toBeCloseTo(200 / 196, 5);
    const judged = summarize(run(burst, clients, 90), { windowSeconds: 80 });
    expect(judged.reconnects.evenOver).toEqual({ kind: 'window', seconds: 80 });
    expect(judged.reconnects.evenPerSecond).toBe(200 / 80);
    expect(judged.peakToEven).toBe(80);
  });

  it('scales a compressed clock back to real seconds (the lab)', () => {
    const compressed = { ...run([connection(0, 0.5, 'v2', 'reconnect')], [client(1)], 2), timeScale: 0.1 };
    const figures = summarize(compressed, { binSeconds: 10 });
    expect(figures.durationSeconds).toBe(20);
    expect(figures.reconnects.perBin).toEqual([1, 0, 0]);
  });
});

describe('reports', () => {
  const meta = (shard: string) => ({ url: 'ws://lb/', shards: [shard], clients: 2, durationSeconds: 10 });

  it('verdict: each threshold checked only when given, each violation said', () => {
    const r = run(
      [
        connection(0, 0, 'v1', 'first'),
        connection(1, 0, 'v1', 'first'),
        connection(0, 3, 'v2', 'reconnect'),
        connection(1, 4, 'v1', 'reconnect'),
      ],
      [client(2), client(1)],
    );
    expect(buildReport(r, meta('1/1'), {}).verdict).toEqual({ passed: true, violations: [] });
    const strict = buildReport(r, meta('1/1'), {
      maxMulti: 0,
      maxOutgoing: 0,
      maxDisconnected: 1,
      expectVersion: 'v2',
    });
    expect(strict.verdict.passed).toBe(false);
    expect(strict.verdict.violations).toHaveLength(4);
    expect(buildReport(r, meta('1/1'), { maxMulti: 1, maxOutgoing: 1, maxDisconnected: 2 }).verdict.passed).toBe(true);
  });

  it('merge: shards become one fleet (client indices moved past the earlier shards), figures computed anew', () => {
    const a = buildReport(
      run([connection(0, 0, 'v1', 'first'), connection(0, 5, 'v2', 'reconnect')], [client(1)]),
      meta('1/2'),
      {},
    );
    const b = buildReport(
      {
        ...run(
          [connection(0, 1, 'v1', 'first'), connection(0, 2, 'v1', 'reconnect'), connection(0, 7, 'v2', 'reconnect')],
          [client(2)],
          12,
        ),
        startedAt: T0 + 1000,
      },
      meta('2/2'),
      {},
    );
    const merged = mergeReports(
      [
        { file: 'a', report: a },
        { file: 'b', report: b },
      ],
      { maxMulti: 0 },
    );
    expect(merged.clients).toBe(2);
    expect(merged.run.connections.map((c) => c.client)).toEqual([0, 1, 1, 0, 1]);
    expect(merged.disconnects).toEqual({ '0': 0, '1': 1, '2': 1, '3+': 0 });
    expect(merged.acceptsByVersion).toEqual({ v1: 3, v2: 2 });
    expect(merged.meta.shards).toEqual(['1/2', '2/2']);
    expect(merged.verdict.passed).toBe(false);
  });
});
