import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../../test/support/cleanups.js';
import { openClient, openClients, tryUpgrade } from '../../../test/support/clients.js';
import { manualDrain, preStopDrain, proofFile } from '../../../test/support/drain-requests.js';
import { TEST_ADMIN_TOKEN } from '../../../test/support/secrets.js';
import { startWsServer, stateReached } from '../../../test/support/servers.js';
import { DrainController, type DrainOptions, DrainState } from '../src/index.js';

const fast: DrainOptions = {
  gracePeriodMs: 10_000,
  propagationDelayMs: 200,
  drainWindowMs: 400,
  closeTimeoutMs: 400,
  safetyMarginMs: 100,
  signals: false,
};

const cleanups = useCleanups();

async function startAdmin(options: DrainOptions = {}) {
  const server = await startWsServer('server');
  const controller = new DrainController({
    ...fast,
    admin: { port: 0, host: '127.0.0.1', token: TEST_ADMIN_TOKEN },
    ...options,
  });
  controller.attach(server.wss);
  await controller.start();
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  const base = `http://127.0.0.1:${controller.adminAddress()!.port}`;
  return { server, controller, base, adminPort: controller.adminAddress()!.port };
}

async function rawRequest(port: number, bytes: string | Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(bytes);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  await once(socket, 'close');
  return text;
}

/** POST /drain with a Host header of our choosing (fetch forbids setting it). */
function postWithHost(port: number, host: string, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/drain', headers: { ...headers, host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(new Response(body, { status: res.statusCode ?? 0 })));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('admin server', () => {
  it('serves readiness and liveness, GET and HEAD', async () => {
    const { base } = await startAdmin();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toMatchObject({ ready: true, state: 'serving', connections: 0, trigger: null });
    const head = await fetch(`${base}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const live = await fetch(`${base}/livez`);
    expect(await live.json()).toMatchObject({ live: true, state: 'serving' });
  });

  it("POST /drain with the container's proof is the preStop hook: termination drain, readiness keeps passing, repeat is a no-op", async () => {
    const { base, controller } = await startAdmin();
    const first = await preStopDrain(base);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({
      alreadyDraining: false,
      state: 'draining',
      trigger: 'prestop',
      terminating: true,
    });
    const again = await preStopDrain(base);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ alreadyDraining: true, trigger: 'prestop' });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const report = await controller.whenDrained();
    expect(report.trigger).toBe('prestop');
  });

  it('GET /drain only reads: the status, and nothing changes (a link, an <img>, a mesh peer)', async () => {
    const { base, controller } = await startAdmin();
    const status = await fetch(`${base}/drain`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ state: 'serving', trigger: null });
    expect((await fetch(`${base}/drain`, { method: 'HEAD' })).status).toBe(200);
    expect(controller.state).toBe('serving');
  });

  it('a loopback peer alone, a wrong proof, a proof sent to a non-loopback Host or with an Origin: 403, nothing changes', async () => {
    const { base, controller, adminPort } = await startAdmin();
    const proof = readFileSync(proofFile(adminPort), 'utf8').trim();
    const refusals = [
      fetch(`${base}/drain`, { method: 'POST' }),
      fetch(`${base}/drain`, { method: 'POST', headers: { 'baton-drain-proof': `${proof.slice(0, -1)}x` } }),
      // DNS rebinding: the browser's Host is the attacker's name (fetch may not set Host: node:http does).
      postWithHost(adminPort, 'evil.example:80', { 'baton-drain-proof': proof }),
      // A browser's cross-site request carries Origin, even with a token it somehow had.
      fetch(`${base}/drain`, {
        method: 'POST',
        headers: { 'baton-drain-proof': proof, origin: 'http://evil.example' },
      }),
      fetch(`${base}/drain`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, origin: 'http://evil.example' },
      }),
      fetch(`${base}/drain`, { method: 'DELETE' }),
    ];
    for (const response of await Promise.all(refusals)) {
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'BATON_ERR_FORBIDDEN' } });
    }
    expect(controller.state).toBe('serving');
  });

  it('logs refused drain requests at most once a second, with how many were refused (a flood does not flood the logs)', async () => {
    const warnings: { fields: Record<string, unknown>; message: string }[] = [];
    const logger = {
      info: () => {},
      error: () => {},
      warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
    };
    const { base } = await startAdmin({ logger });
    const started = performance.now();
    for (let i = 0; i < 60; i++) expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(403);
    const elapsedMs = performance.now() - started;
    const refusals = warnings.filter((w) => w.message.includes('drain refused'));
    // One line, then one per further second at most (60 lines before).
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 1_000));
    expect(refusals[0]?.fields).toMatchObject({ method: 'POST', refused: 1 });
    expect(refusals.reduce((sum, w) => sum + Number(w.fields.refused), 0)).toBeLessThanOrEqual(60);
  });

  it('the proof is per start, readable only by this user, and removed on close', async () => {
    const { controller, adminPort } = await startAdmin();
    const file = proofFile(adminPort);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const proof = readFileSync(file, 'utf8').trim();
    expect(proof).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await controller.destroy();
    expect(existsSync(file)).toBe(false);
  });

  it('POST /drain with the admin token is a manual drain: readiness fails so the endpoint goes away', async () => {
    const { base } = await startAdmin();
    const response = await fetch(`${base}/drain`, {
      method: 'POST',
      body: 'ignored',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ trigger: 'admin', terminating: false });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, state: 'draining' });
  });

  it('answers wrong methods with 405 + Allow and unknown paths with 404, coded', async () => {
    const { base, controller } = await startAdmin();
    const put = await fetch(`${base}/drain`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST, DELETE');
    expect(await put.json()).toMatchObject({ error: { code: 'BATON_ERR_METHOD_NOT_ALLOWED' } });
    const postReady = await fetch(`${base}/readyz`, { method: 'POST' });
    expect(postReady.status).toBe(405);
    const missing = await fetch(`${base}/drain/now`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'BATON_ERR_NOT_FOUND' } });
    expect(controller.state).toBe('serving');
  });

  it('answers garbage with 400 and keeps serving, dropping no WebSocket connection', async () => {
    const { base, server, adminPort, controller } = await startAdmin();
    const client = await openClient(server.url);
    for (const garbage of [
      '\x00\x01\x02 not http at all\r\n\r\n',
      'GET /readyz HTTP/9.9\r\n\r\n',
      `GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]),
    ]) {
      const answer = await rawRequest(adminPort, garbage);
      expect(answer.startsWith('HTTP/1.1 400 Bad Request')).toBe(true);
      expect(answer).toContain('BATON_ERR_BAD_REQUEST');
    }
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect(controller.state).toBe('serving');
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    client.ws.send('still here');
    const [echo] = await once(client.ws, 'message');
    expect(String(echo)).toBe('still here');
  });

  it('exposes baton_* metrics', async () => {
    const { base, server } = await startAdmin();
    await openClient(server.url);
    await openClient(server.url);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('baton_connections 2');
    expect(text).toContain('baton_connections_accepted_total 2');
    expect(text).toContain('baton_drain_state{state="serving"} 1');
    expect(text).toContain('baton_drain_closes_total{method="close"} 0');
    expect(text).toContain('baton_upgrades_refused_total 0');
    expect(text).toContain('baton_drain_window_seconds 0');
    expect(text).toContain('baton_drain_connections_at_closing 0');
    expect(text).toContain('baton_resumes_total{result="refused"} 0');
  });

  it('registers into the app registry when given one', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    await startAdmin({ metrics: { registry } });
    expect(await registry.metrics()).toContain('baton_drain_started_timestamp_seconds 0');
  });

  it('answers /metrics with 404 when metrics are off', async () => {
    const { base } = await startAdmin({ metrics: false });
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'BATON_ERR_METRICS_DISABLED' } });
  });

  it('rejects start() with a coded error when the admin port is taken', async () => {
    const { adminPort } = await startAdmin();
    const second = new DrainController({ ...fast, admin: { port: adminPort, host: '127.0.0.1' }, metrics: false });
    await expect(second.start()).rejects.toMatchObject({
      code: 'BATON_ERR_ADMIN_LISTEN',
      message: expect.stringContaining('EADDRINUSE'),
    });
    await second.destroy();
  });

  it('supports custom paths', async () => {
    const { base } = await startAdmin({ admin: { port: 0, host: '127.0.0.1', paths: { readiness: '/health/ready' } } });
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(404);
  });
});

describe('cancelling a manual drain (DELETE on the drain path)', () => {
  it('restores readiness and upgrades, stops the closes, and resolves the drain as cancelled', async () => {
    const { server, controller, base } = await startAdmin({ drainWindowMs: 5_000, exitAfterDrain: 'always' });
    const clients = await openClients(server.url, 20);
    const drained = controller.whenDrained();
    expect((await manualDrain(base, TEST_ADMIN_TOKEN)).status).toBe(202);
    // Manual drain: readiness fails so the endpoint goes away, closes begin after the propagation delay.
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await stateReached(controller, DrainState.CLOSING);
    const closedBefore = clients.filter((client) => client.close).length;
    const cancel = await manualDrain(base, TEST_ADMIN_TOKEN, 'DELETE');
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toMatchObject({ cancelled: true, state: 'serving', closingAt: null, holding: false });
    const report = await drained;
    expect(report).toMatchObject({ cancelled: true, terminating: false });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await tryUpgrade(server.url)).status).toBe(101);
    // The rest of the window passes (the test's subject is time: nothing else may close).
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const closedAfter = clients.filter((client) => client.close).length;
    expect(closedAfter).toBeLessThanOrEqual(closedBefore + 1);
    expect(closedAfter).toBeLessThan(clients.length);
    // A manual drain never ended the process (exitAfterDrain 'always' concerns pods being deleted only).
    expect(controller.state).toBe(DrainState.SERVING);
  });

  it('refuses to cancel a terminating drain or nothing at all (409, coded)', async () => {
    const { base } = await startAdmin({ exitAfterDrain: 'never' });
    const nothing = await manualDrain(base, TEST_ADMIN_TOKEN, 'DELETE');
    expect(nothing.status).toBe(409);
    expect(await nothing.json()).toMatchObject({ error: { code: 'BATON_ERR_NOT_CANCELLABLE' } });
    expect((await preStopDrain(base)).status).toBe(202); // the preStop hook: a terminating drain
    const terminating = await manualDrain(base, TEST_ADMIN_TOKEN, 'DELETE');
    expect(terminating.status).toBe(409);
  });
});
