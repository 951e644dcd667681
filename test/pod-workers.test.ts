// A pod of several gateway processes: the example ws-gateway with WORKERS=4 (node:cluster) holds 4 × 15,000
// connections — three times what one process may hold here (20,000 descriptors) — and drains them as one pod:
// one SIGTERM to the primary, each connection closed once with 1012, the pod's closes paced over the window
// as one pod's (the busiest second at most 1.3 × the even rate), readiness and status for the whole pod.

import { fork, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { budgetEnv, startGateway } from '../packages/lab/src/harness/index.js';
import { useCleanups } from './support/cleanups.js';

const cleanups = useCleanups();
const gatewayScript = fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url));
const fleetScript = fileURLToPath(new URL('./fixtures/close-timing-fleet.mjs', import.meta.url));

const WORKERS = 4;
const PER_WORKER = 15_000;
const TOTAL = WORKERS * PER_WORKER;
const WINDOW_MS = 20_000;

type CloseRecord = [at: number, code: number, closes: number];

async function podStatus(adminUrl: string): Promise<{ connections: number; state: string }> {
  return (await (await fetch(`${adminUrl}/livez`)).json()) as { connections: number; state: string };
}

describe('a pod of four gateway processes', () => {
  it.each([
    [{ WORKERS: '0' }, /WORKERS must be a whole number of processes from 1 to 64/],
    [{ WORKERS: 'four' }, /WORKERS must be a whole number/],
    [
      { WORKERS: '2', BATON_REBALANCE_SECONDS: '30', BATON_REBALANCE_PEERS: 'http://127.0.0.1:1' },
      /cannot be combined/,
    ],
  ])('refuses %o at start-up: exit 2, coded', (env, message) => {
    const result = spawnSync(process.execPath, [gatewayScript], {
      env: { ...process.env, PORT: '0', ADMIN_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    const line = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((text) => JSON.parse(text) as { code?: string; err?: string })
      .find((entry) => entry.code !== undefined);
    expect(line?.code).toBe('BATON_ERR_INVALID_ENV');
    expect(line?.err).toMatch(message);
  });

  it('holds 60,000 connections and drains them once each, paced as one pod', { timeout: 300_000 }, async () => {
    const gateway = await startGateway(
      gatewayScript,
      {
        WORKERS: String(WORKERS),
        // Idle sessions: the test is about the drain, not 60,000 ticks a second on two cores.
        TICK_MS: '3600000',
        ...budgetEnv({
          gracePeriodMs: 1_000 + WINDOW_MS + 2_000 + 1_000,
          propagationDelayMs: 1_000,
          closeTimeoutMs: 2_000,
          safetyMarginMs: 1_000,
        }),
      },
      { listenTimeoutMs: 60_000 },
    );
    cleanups.push(() => gateway.stop());

    // One fleet process per 15,000 clients, each from its own 250 loopback source addresses.
    const fleets = Array.from({ length: WORKERS }, (_, i) => {
      const fleet = fork(fleetScript, [], {
        env: { ...process.env, URL: gateway.url, COUNT: String(PER_WORKER), SOURCE_NET: `127.0.${40 + i}` },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      cleanups.push(() => {
        if (fleet.exitCode === null) fleet.kill('SIGKILL');
      });
      const message = (type: string) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const onMessage = (value: Record<string, unknown>) => {
            if (value.type !== type) return;
            fleet.off('message', onMessage);
            resolve(value);
          };
          fleet.on('message', onMessage);
          fleet.once('exit', (code) => reject(new Error(`fleet ${i} exited with ${code} before '${type}'`)));
        });
      return { ready: message('ready'), closes: message('closes') };
    });
    await Promise.all(fleets.map((fleet) => fleet.ready));

    gateway.terminate();
    // The primary's closing phase counts the pod: every worker's connections (workers report every 250 ms;
    // closing starts a propagation delay of 1 s after the signal).
    const closing = await gateway.waitForLog((line) => line.msg === 'baton: closing', 30_000);
    expect(closing.connections).toBe(TOTAL);
    // The pod's status: closing, its workers' connections counted.
    const status = await podStatus(gateway.adminUrl);
    expect(status.state).toBe('closing');
    expect(status.connections).toBeGreaterThan(0);
    const records = (await Promise.all(fleets.map((fleet) => fleet.closes))).flatMap(
      (message) => message.records as CloseRecord[],
    );

    // Each connection closed once, with the drain's 1012.
    expect(records).toHaveLength(TOTAL);
    expect(records.filter(([, , closes]) => closes !== 1)).toHaveLength(0);
    expect(records.filter(([, code]) => code !== 1012)).toHaveLength(0);

    // Paced as one pod: the window's closes per second, against the even rate over the window.
    const startAt = closing.time as number;
    const windowMs = closing.drainWindowMs as number;
    const seconds = Math.floor(windowMs / 1000);
    const perSecond = new Array<number>(seconds).fill(0);
    for (const [at] of records) {
      const second = Math.floor((at - startAt) / 1000);
      if (second >= 0 && second < seconds) perSecond[second] = (perSecond[second] as number) + 1;
    }
    const even = TOTAL / (windowMs / 1000);
    const peak = Math.max(...perSecond);
    expect(peak / even, `closes per second: ${perSecond.join(', ')} (even ${Math.round(even)})`).toBeLessThanOrEqual(
      1.3,
    );
    // Nothing closed before the window, and the window's seconds hold nearly all of them (the rest: its last
    // fraction of a second and delivery).
    expect(records.filter(([at]) => at < startAt - 5)).toHaveLength(0);
    expect(perSecond.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(TOTAL * 0.9);

    // One pod: drained once every worker finished, then it exits 0 (and its workers with it).
    const drained = await gateway.waitForLog((line) => line.msg === 'pod drained', 30_000);
    expect((drained.pod as { closed: number }).closed).toBe(TOTAL);
    expect((await gateway.exited).code).toBe(0);
  });
});
