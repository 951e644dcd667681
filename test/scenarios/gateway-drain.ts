// Drain scenarios against a gateway process, shared by every gateway example (ws today, fastify next):
// each example must pass the same scenarios, so they are written once here.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BatonSocket } from '../../packages/client/src/index.js';
import { budgetEnv, type GatewayProcess, startGateway } from '../../packages/lab/src/harness/index.js';
import { useCleanups } from '../support/cleanups.js';
import { openClients, tryUpgrade } from '../support/clients.js';
import { manualDrain, preStopDrain } from '../support/drain-requests.js';
import { TEST_ADMIN_TOKEN } from '../support/secrets.js';
import { openSilentClient } from '../support/servers.js';
import { expectSpread } from '../support/spread.js';

const BATON_DRAIN_BIN = new URL('../../packages/drain-core/dist/baton-drain.js', import.meta.url).pathname;
const cleanups = useCleanups();

export function defineGatewayDrainScenarios(name: string, script: string): void {
  describe(`${name}: drain scenarios`, () => {
    let gateways: GatewayProcess[] = [];
    afterEach(async () => {
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      gateways = [];
    });
    /** A gateway that must refuse to start: its exit code, its last log line, and everything it printed. */
    const startupFailure = async (env: Record<string, string>) => {
      const child = spawn(process.execPath, [script], {
        env: { ...process.env, PORT: '0', ADMIN_PORT: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      const [code] = await once(child, 'exit');
      const line = JSON.parse(output.trim().split('\n').at(-1) ?? '{}');
      return { code: code as number | null, line, output };
    };
    const start = async (env: Record<string, string>) => {
      const gateway = await startGateway(script, env);
      gateways.push(gateway);
      return gateway;
    };

    it('drains 1,000 clients on SIGTERM: all 1012, none before propagation, evenly paced, inside the budget, exit 0', async () => {
      const clientCount = 1000;
      const propagationMs = 2_000;
      const windowMs = 10_000;
      const closeTimeoutMs = 2_000;
      const graceMs = 15_000;
      const gateway = await start({
        APP_VERSION: 'v1',
        // Few ticks: this test measures close times in its own process, which must not be busy with ticks.
        TICK_MS: '5000',
        ...budgetEnv({
          gracePeriodMs: graceMs,
          propagationDelayMs: propagationMs,
          drainWindowMs: windowMs,
          closeTimeoutMs: closeTimeoutMs,
          safetyMarginMs: 1_000,
        }),
      });
      const clients = await openClients(gateway.url, clientCount);

      const t0 = Date.now();
      gateway.child.kill('SIGTERM');
      const closes = await Promise.all(clients.map((client) => client.closed));
      const exit = await gateway.exited;
      const closing = await gateway.waitForLog((line) => line.msg === 'drain state' && line.to === 'closing');

      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at).toBeLessThan(t0 + graceMs);
      for (const close of closes) {
        expect(close.code).toBe(1012);
        expect(close.reason).toBe('server draining');
        // None closed before t0 + propagation.
        expect(close.at).toBeGreaterThanOrEqual(t0 + propagationMs);
        // All inside the budget: window plus the close handshake.
        expect(close.at).toBeLessThanOrEqual(t0 + propagationMs + windowMs + closeTimeoutMs);
      }
      // Closes per second never exceed 1.2 × the even rate N/W.
      const evenRate = clientCount / (windowMs / 1000);
      const perSecond = new Map<number, number>();
      for (const close of closes) {
        const second = Math.floor((close.at - closing.time) / 1000);
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      }
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(1.2 * evenRate);
      // Spread over the window, not bunched: at least 9 of its 10 seconds carry closes.
      expect(perSecond.size).toBeGreaterThanOrEqual(9);
      const drained = await gateway.waitForLog((line) => line.msg === 'drained');
      expect(drained.report).toMatchObject({
        trigger: 'signal',
        connectionsAtClosing: clientCount,
        closed: clientCount,
        terminated: 0,
      });
      // The server's own record of its pacing says the same, free of this process's scheduling noise.
      const serverPerSecond = (drained.report as { perSecond: number[] }).perSecond;
      expect(serverPerSecond.reduce((sum, count) => sum + count, 0)).toBe(clientCount);
      expect(Math.max(...serverPerSecond)).toBeLessThanOrEqual(1.2 * evenRate);
    });

    it('the Kubernetes order — preStop baton-drain, then SIGTERM — with plain, Baton and unresponsive clients: paced, metrics live, exit 0', async () => {
      const windowMs = 2_000;
      const closeTimeoutMs = 1_000;
      const graceMs = 8_000;
      const gateway = await start({
        APP_VERSION: 'v1',
        TICK_MS: '5000',
        ...budgetEnv({
          gracePeriodMs: graceMs,
          propagationDelayMs: 500,
          drainWindowMs: windowMs,
          closeTimeoutMs,
          safetyMarginMs: 1_000,
        }),
      });
      const plain = await openClients(gateway.url, 6);
      const silent = await openSilentClient(gateway.port);
      const baton = await Promise.all(
        [1, 2].map(async () => {
          const socket = new BatonSocket(gateway.url, [], { WebSocket, maxRetries: 0 });
          const hinted = new Promise<void>((resolve) => {
            // The hint itself is hidden from the app; its effect is a move attempt, which fails here (one pod, and
            // it refuses upgrades while closing), so the server closes the connection at its hint deadline.
            socket.addEventListener('close', () => resolve(), { once: true });
          });
          await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
          return { socket, hinted };
        }),
      );
      cleanups.push(() => {
        for (const { socket } of baton) socket.close();
        silent.socket.destroy();
      });
      const states: string[] = [];
      const closingSeen = gateway.waitForLog((line) => line.msg === 'drain state' && line.to === 'closing');

      // 1. The kubelet runs the preStop hook — the package's own bin — and waits for it to exit.
      const t0 = Date.now();
      const preStop = spawn(process.execPath, [BATON_DRAIN_BIN, '--port', String(gateway.adminPort)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const [preStopCode] = await once(preStop, 'exit');
      expect(preStopCode).toBe(0);
      const draining = await gateway.waitForLog((line) => line.msg === 'drain state' && line.to === 'draining');
      expect(draining.trigger).toBe('prestop');
      // 2. Then SIGTERM, which must neither restart nor shorten the drain.
      gateway.child.kill('SIGTERM');

      // 3. Metrics while closing.
      await closingSeen;
      const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/baton_drain_state\{state="closing"\} 1/);
      expect(metrics).toMatch(/baton_drain_started_timestamp_seconds [1-9]/);
      // The plan, for the dashboard's "closes per second against plan": 9 connections over a 2 s window.
      expect(metrics).toMatch(/baton_drain_connections_at_closing 9\n/);
      // What is left of the 2 s window when the phase timer fired (a millisecond or so late).
      const windowSeconds = Number(/baton_drain_window_seconds ([\d.]+)\n/.exec(metrics)?.[1]);
      expect(windowSeconds).toBeGreaterThan(1.9);
      expect(windowSeconds).toBeLessThanOrEqual(2);
      states.push('closing');

      const closes = await Promise.all(plain.map((client) => client.closed));
      await Promise.all(baton.map(({ hinted }) => hinted));
      const exit = await gateway.exited;
      const drained = await gateway.waitForLog((line) => line.msg === 'drained');
      const closing = await closingSeen;

      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at - t0).toBeLessThan(graceMs);
      expect(closes.every((close) => close.code === 1012)).toBe(true);
      // The 6 plain clients share the full window's slots with the unresponsive one (7 slots); the Baton clients
      // are hinted over the window less their lead.
      expectSpread(
        closes.map((close) => close.at),
        { startAt: closing.time, windowMs, lateMs: 200, slots: 7 },
      );
      // The unresponsive client never answered the close handshake: terminated closeTimeoutMs after its close.
      await silent.closed;
      expect(drained.report).toMatchObject({
        trigger: 'prestop',
        terminating: true,
        signalled: true,
        connectionsAtClosing: 9,
        hinted: 2,
        terminated: 1,
      });
      expect(gateway.lines.filter((line) => line.msg === 'drain state' && line.to === 'draining')).toHaveLength(1);
    });

    it('accepts upgrades while propagating, refuses them after with 503, keeps readiness, ignores repeated triggers', async () => {
      const gateway = await start({
        APP_VERSION: 'v1',
        ...budgetEnv({
          gracePeriodMs: 8_000,
          propagationDelayMs: 1_500,
          drainWindowMs: 3_000,
          closeTimeoutMs: 1_000,
          safetyMarginMs: 1_000,
        }),
      });
      const clients = await openClients(gateway.url, 5);
      gateway.child.kill('SIGTERM');
      const draining = await gateway.waitForLog((line) => line.msg === 'drain state' && line.to === 'draining');
      expect(draining.trigger).toBe('signal');

      const during = await tryUpgrade(gateway.url);
      expect(during.status).toBe(101);
      during.ws?.on('error', () => {});
      const duringClosed = new Promise<number>((resolve) => during.ws?.once('close', (code) => resolve(code)));
      expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(200);
      // The preStop hook arriving during the SIGTERM's drain: acknowledged, nothing restarts.
      const repeat = await preStopDrain(gateway.adminUrl);
      expect(repeat.status).toBe(200);
      expect(await repeat.json()).toMatchObject({ alreadyDraining: true, trigger: 'signal' });
      // A second SIGTERM must not kill the drain.
      gateway.child.kill('SIGTERM');

      const closing = await gateway.waitForLog((line) => line.msg === 'drain state' && line.to === 'closing');
      expect(closing.time - draining.time).toBeGreaterThanOrEqual(1_500 - 5);
      expect(closing.time - draining.time).toBeLessThan(1_500 + 500);
      const after = await tryUpgrade(gateway.url);
      expect(after.status).toBe(503);
      expect(after.headers['retry-after']).toBe('1');
      expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(200);

      const exit = await gateway.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(await duringClosed).toBe(1012);
      for (const client of clients) expect((await client.closed).code).toBe(1012);
      const drained = await gateway.waitForLog((line) => line.msg === 'drained');
      expect(drained.report).toMatchObject({ connectionsAtClosing: 6, refusedUpgrades: 1 });
      expect(gateway.lines.filter((line) => line.msg === 'drain state' && line.to === 'draining')).toHaveLength(1);
    });

    it('a manual drain can be cancelled: ready again, accepting, and the process stays', async () => {
      const gateway = await start({
        BATON_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        ...budgetEnv({
          gracePeriodMs: 6_000,
          propagationDelayMs: 300,
          drainWindowMs: 1_000,
          closeTimeoutMs: 1_000,
          safetyMarginMs: 1_000,
        }),
      });
      const clients = await openClients(gateway.url, 3);
      // A loopback peer without the token (a mesh sidecar, an SSRF) cannot start one.
      expect((await fetch(`${gateway.adminUrl}/drain`, { method: 'POST' })).status).toBe(403);
      expect((await manualDrain(gateway.adminUrl, TEST_ADMIN_TOKEN)).status).toBe(202);
      await Promise.all(clients.map((client) => client.closed));
      await gateway.waitForLog((line) => line.msg === 'drained');
      expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(503);
      const cancel = await manualDrain(gateway.adminUrl, TEST_ADMIN_TOKEN, 'DELETE');
      expect(cancel.status).toBe(200);
      expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(200);
      const upgrade = await tryUpgrade(gateway.url);
      expect(upgrade.status).toBe(101);
      upgrade.ws?.close();
      // Past the whole budget of the drain that was cancelled: still running.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(gateway.child.exitCode).toBeNull();
      expect((await fetch(`${gateway.adminUrl}/livez`)).status).toBe(200);
    });

    it('exits before the grace period although three HTTP requests on the public port are half-sent', async () => {
      const graceMs = 6_000;
      const gateway = await start({
        ...budgetEnv({ gracePeriodMs: graceMs, propagationDelayMs: 500, closeTimeoutMs: 1_000, safetyMarginMs: 1_000 }),
      });
      const sockets = await Promise.all(
        [1, 2, 3].map(async () => {
          const socket = connect(gateway.port, '127.0.0.1');
          await once(socket, 'connect');
          // Headers never finished: the server has a request in flight that will never complete.
          socket.write('GET / HTTP/1.1\r\nHost: gateway\r\nX-Slow: ');
          socket.on('error', () => {});
          return socket;
        }),
      );
      const t0 = Date.now();
      gateway.child.kill('SIGTERM');
      const exit = await gateway.exited;
      for (const socket of sockets) socket.destroy();
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at - t0).toBeLessThan(graceMs);
    });

    it.each([
      ["the chart's placeholder key", 'k1=REPLACE-ME-with-openssl-rand-base64-32-output', 'placeholder'],
      ['a weak key (32 × "a")', `k1=${'a'.repeat(32)}`, 'key material'],
    ])('refuses to start with %s, naming the variable, never the secret', async (_label, keys, why) => {
      const { code, line, output } = await startupFailure({ BATON_HANDOFF_KEYS: keys });
      expect(code).toBe(2);
      expect(line).toMatchObject({ msg: 'invalid configuration', code: 'BATON_ERR_INVALID_OPTION' });
      expect(line.err).toContain('BATON_HANDOFF_KEYS');
      expect(line.err).toContain(why);
      expect(output).not.toContain(keys.slice(3, 15));
    });

    it('with BATON_MAX_ACCEPTS_PER_SECOND: accepts the burst, refuses the excess with 503 before the upgrade', async () => {
      const gateway = await start({ BATON_MAX_ACCEPTS_PER_SECOND: '2', BATON_ACCEPT_BURST: '3' });
      const answers = await Promise.all(Array.from({ length: 10 }, () => tryUpgrade(gateway.url)));
      const accepted = answers.filter((answer) => answer.status === 101);
      expect(accepted.length).toBeGreaterThanOrEqual(3);
      expect(accepted.length).toBeLessThan(10);
      for (const answer of answers.filter((a) => a.status !== 101)) {
        expect(answer.status).toBe(503);
        expect(JSON.parse(answer.body ?? '')).toMatchObject({ error: { code: 'BATON_ERR_ADMISSION_LIMIT' } });
      }
      for (const answer of accepted) answer.ws?.close();
    });

    it('refuses to start with an impossible budget, naming the numbers to change', async () => {
      const { code, line } = await startupFailure({
        BATON_GRACE_PERIOD_SECONDS: '10',
        BATON_DRAIN_WINDOW_SECONDS: '30',
      });
      expect(code).toBe(2);
      expect(line).toMatchObject({ msg: 'invalid configuration', code: 'BATON_ERR_BUDGET' });
      expect(line.err).toContain('Raise gracePeriodMs (terminationGracePeriodSeconds) to at least 52000');
    });
  });
}
