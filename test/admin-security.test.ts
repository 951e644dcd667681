// Who may start a drain, tried as a hostile neighbour would: from another network namespace (a peer that is
// not loopback) without a token, with a wrong one, and with the right one; from loopback as a mesh sidecar
// delivers requests (127.0.0.6); then the admin server's own hardening on loopback (IPv6 and IPv4, half-sent
// requests, bodies) and the preStop command, which drains with the container's proof and nothing else.

import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrainController } from '../packages/drain-core/src/index.js';
import { useCleanups } from './support/cleanups.js';
import { proofFile } from './support/drain-requests.js';
import { createNamespacePair, type NamespacePair, namespacesAvailable } from './support/netns.js';
import { requireTool } from './support/require-tool.js';

const cleanups = useCleanups();
const fixture = fileURLToPath(new URL('./fixtures/admin-server.mjs', import.meta.url));
const batonDrain = fileURLToPath(new URL('../packages/drain-core/dist/baton-drain.js', import.meta.url));
const TOKEN = 'f4Qz9-kX2mWv7Rt1Lp8Ns3Yb6Hd0Jc5Ge-AoUiTr';

/** One HTTP request; resolves with status and body. */
function httpRequest(
  host: string,
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, method: options.method ?? 'GET', path: options.path ?? '/drain', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!requireTool('network namespaces (root, ip)', namespacesAvailable))(
  'admin drain from a peer that is not loopback (network namespaces)',
  () => {
    let pair: NamespacePair;
    beforeAll(() => {
      pair = createNamespacePair();
    });
    afterAll(() => pair?.remove());

    /** Starts the fixture in the server namespace; resolves with its admin port. */
    async function startServer(env: Record<string, string> = {}): Promise<number> {
      const child = pair.node(pair.server, [fixture], env);
      cleanups.push(async () => {
        child.stdin?.end();
        if (child.exitCode === null) await once(child, 'exit');
      });
      const [line] = (await once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line')) as [
        string,
      ];
      return JSON.parse(line).port as number;
    }

    /** An HTTP request from the client namespace to the server namespace's address. */
    async function fromNeighbour(port: number, method: string, path: string, token?: string) {
      const script = `
      const req = require('node:http').request({ host: '${pair.serverAddress}', port: ${port}, method: '${method}', path: '${path}',
        headers: ${JSON.stringify(token ? { authorization: `Bearer ${token}` } : {})} }, (res) => {
        let body = ''; res.setEncoding('utf8'); res.on('data', (c) => { body += c; });
        res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, body })); });
      });
      req.on('error', (e) => { process.stdout.write(JSON.stringify({ status: 0, body: e.message })); });
      req.end();`;
      const child = pair.node(pair.client, ['-e', script]);
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      await once(child, 'exit');
      return JSON.parse(out) as { status: number; body: string };
    }

    it('refuses POST and DELETE /drain without a token (403, coded); GET only reads; nothing changes', async () => {
      const port = await startServer();
      for (const method of ['POST', 'DELETE']) {
        const answer = await fromNeighbour(port, method, '/drain');
        expect(answer.status).toBe(403);
        expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BATON_ERR_FORBIDDEN' } });
      }
      const status = await fromNeighbour(port, 'GET', '/drain');
      expect(status.status).toBe(200);
      expect(JSON.parse(status.body)).toMatchObject({ state: 'serving' });
      // Read-only endpoints stay open to the neighbour (the kubelet, scrapers), and the pod still serves.
      const ready = await fromNeighbour(port, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toMatchObject({ state: 'serving' });
    });

    it('refuses a wrong token; the right one gets a manual drain only (cancellable, never terminating)', async () => {
      const port = await startServer({ BATON_ADMIN_TOKEN: TOKEN });
      const wrong = await fromNeighbour(port, 'POST', '/drain', `${TOKEN.slice(0, -1)}x`);
      expect(wrong.status).toBe(403);
      expect(wrong.body).not.toContain(TOKEN.slice(0, 8));
      expect(JSON.parse((await fromNeighbour(port, 'GET', '/readyz')).body)).toMatchObject({ state: 'serving' });
      const right = await fromNeighbour(port, 'POST', '/drain', TOKEN);
      expect(right.status).toBe(202);
      expect(JSON.parse(right.body)).toMatchObject({ state: 'draining', trigger: 'admin', terminating: false });
      const cancelled = await fromNeighbour(port, 'DELETE', '/drain', TOKEN);
      expect(cancelled.status).toBe(200);
      expect(JSON.parse(cancelled.body)).toMatchObject({ cancelled: true, state: 'serving' });
    });
  },
);

describe('admin server hardening (loopback)', () => {
  async function started(options: { token?: string; host?: string } = {}) {
    const controller = new DrainController({
      gracePeriodMs: 60_000,
      propagationDelayMs: 30_000,
      signals: false,
      exitAfterDrain: 'never',
      admin: { port: 0, ...options },
    });
    cleanups.push(() => controller.destroy());
    await controller.start();
    return { controller, port: controller.adminAddress()?.port as number };
  }

  it("listens dual-stack by default: probes answer on ::1 and 127.0.0.1, and the container's proof drains over ::1", async () => {
    const { controller, port } = await started();
    expect((await httpRequest('::1', port, { path: '/readyz' })).status).toBe(200);
    expect((await httpRequest('127.0.0.1', port, { path: '/livez' })).status).toBe(200);
    const proof = readFileSync(proofFile(port), 'utf8').trim();
    const drained = await httpRequest('::1', port, { method: 'POST', headers: { 'baton-drain-proof': proof } });
    expect(drained.status).toBe(202);
    expect(controller.state).toBe('draining');
  });

  it('a mesh sidecar (requests from 127.0.0.6), an SSRF or a cross-site request on loopback cannot drain', async () => {
    const { controller, port } = await started({ host: '127.0.0.1' });
    const fromSidecar = (method: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method, path: '/drain', localAddress: '127.0.0.6', headers },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    for (const method of ['POST', 'DELETE']) expect(await fromSidecar(method)).toBe(403);
    // A form posted by a page in a browser on the node carries Origin.
    expect(await fromSidecar('POST', { origin: 'http://evil.example', 'content-type': 'text/plain' })).toBe(403);
    // GET (an <img src>, a link) only reads.
    expect(await fromSidecar('GET')).toBe(200);
    expect(controller.state).toBe('serving');
  });

  it('70 sockets that never finish (half-sent or silent, never closing their side) keep neither the probes nor the preStop hook out', async () => {
    const { controller, port } = await started({ host: '127.0.0.1' });
    // What starved the probes for as long as the sockets stayed (every one ECONNRESET for 12 s, before).
    let closedByServer = 0;
    let onClosed: () => void = () => {};
    const hogs = Array.from({ length: 70 }, (_, i) => {
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('data', () => {});
      // The server closing it: a FIN ('end': this side stays open, as the attacker's would) or a reset.
      let counted = false;
      const closed = () => {
        if (counted) return;
        counted = true;
        closedByServer++;
        onClosed();
      };
      socket.on('end', closed);
      socket.on('error', closed);
      if (i % 2 === 0) socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n');
      return socket;
    });
    cleanups.push(() => {
      for (const socket of hogs) socket.destroy();
    });
    await Promise.all(hogs.map((socket) => once(socket, 'connect')));
    for (let i = 0; i < 10; i++) {
      const probe = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
      expect(probe.status).toBe(200);
    }
    // One peer keeps at most its share (16): the rest of its idle sockets made room for the newcomers.
    await new Promise<void>((resolve) => {
      onClosed = () => closedByServer >= 70 - 16 && resolve();
      onClosed();
    });
    const { stdout } = await promisify(execFile)(process.execPath, [batonDrain, '--port', String(port)]);
    expect(JSON.parse(stdout)).toMatchObject({ trigger: 'prestop' });
    expect(controller.state).toBe('draining');
  });

  it('closes a half-sent request within its headers timeout', async () => {
    const { port } = await started({ host: '127.0.0.1' });
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n');
    const openedAt = Date.now();
    socket.on('data', () => {});
    socket.on('error', () => {});
    await once(socket, 'close');
    // headersTimeout 5 s, checked every 0.5 s: well before Node's default 30 s check interval.
    expect(Date.now() - openedAt).toBeLessThan(8_000);
  });

  it('refuses a request body above 1 KiB with 413', async () => {
    const { port } = await started({ host: '127.0.0.1' });
    const answer = await httpRequest('127.0.0.1', port, {
      method: 'POST',
      path: '/drain',
      headers: { 'content-length': String(64 * 1024) },
    }).catch(() => ({ status: 0, body: '' }));
    expect(answer.status).toBe(413);
  });

  it('refuses guessable admin tokens at construction, without quoting them', () => {
    for (const token of [
      'REPLACE-ME-with-openssl-rand-base64-32-output',
      'a'.repeat(40),
      'short-token',
      'changeme'.repeat(5),
      // The second review's tokens: a repeated pattern, and "changeit" (both passed before).
      'abcdefgh'.repeat(4),
      'changeit'.repeat(4),
    ]) {
      expect(() => new DrainController({ signals: false, admin: { port: 0, token } }), token).toThrowError(
        expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.not.stringContaining(token) }),
      );
    }
  });

  it('accepts generated admin tokens (openssl rand -base64 32, -hex 16), a placeholder word inside them or not', () => {
    for (const token of [
      'f4Qz9-kX2mWv7Rt1Lp8Ns3Yb6Hd0Jc5Ge-AoUiTr',
      'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9pY7uE3iO1wT8=',
      'Ab3TodoZ9xQ2mWv7Rt1Lp8Ns3Yb6Hd0Jc5Ge+k=',
    ]) {
      const controller = new DrainController({ signals: false, admin: { port: 0, token } });
      controller.destroy();
    }
  });

  it('refuses durations a timer cannot wait (above 2^31 − 1 ms)', () => {
    expect(() => new DrainController({ gracePeriodMs: 2 ** 31, signals: false })).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringMatching(/2147483647/) }),
    );
  });

  it('baton-drain, the preStop command, starts a termination drain over loopback and returns at once', async () => {
    const { controller, port } = await started();
    const { stdout } = await promisify(execFile)(process.execPath, [batonDrain, '--port', String(port)]);
    expect(JSON.parse(stdout)).toMatchObject({ state: 'draining', trigger: 'prestop', terminating: true });
    expect(controller.state).toBe('draining');
    await controller.destroy();
    const failed = await promisify(execFile)(process.execPath, [batonDrain, '--port', String(port)]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    // The proof went with the admin server: baton-drain says so, with a non-zero exit, not a hang.
    expect(failed).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^baton-drain: cannot read the drain proof/),
    });
  });
});
