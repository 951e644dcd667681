#!/usr/bin/env node
// baton-drain: the preStop hook's command. Run inside the gateway's container (`exec`), it reads the admin
// server's per-start proof from a file only the container can read (container-proof.ts) and sends it over
// loopback to start a termination drain — no peer without that proof can — then returns at once; the
// kubelet then sends SIGTERM, which the drain already under way ignores.
//
//   baton-drain [--port 9090] [--path /drain] [--host 127.0.0.1] [--timeout-ms 5000]
//
// The port defaults to BATON_ADMIN_PORT, then ADMIN_PORT (the example gateways' variable), then 9090; the
// proof's file to BATON_ADMIN_PROOF_FILE, then the one the admin server on that port wrote in the tmpdir.

import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { PROOF_HEADER, proofPath, readProof } from './container-proof.js';
import { drainOptionsFromEnv } from './env-contract.js';

const usage = 'usage: baton-drain [--port 9090] [--path /drain] [--host 127.0.0.1] [--timeout-ms 5000]';

function fail(message: string, code = 1): never {
  process.stderr.write(`baton-drain: ${message}\n`);
  process.exit(code);
}

let values: { port?: string; path?: string; host?: string; 'timeout-ms'?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string' },
      path: { type: 'string' },
      host: { type: 'string' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
  }));
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`, 2);
}
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

/** The admin port from the environment, read by the BATON_* contract's own parser (as the gateway read it). */
function portFromEnv(): number {
  try {
    return drainOptionsFromEnv({ ADMIN_PORT: process.env.BATON_ADMIN_PORT ?? process.env.ADMIN_PORT }).admin.port;
  } catch (error) {
    return fail((error as Error).message, 2);
  }
}
const rawPort = values.port ?? String(portFromEnv());
const port = Number(rawPort);
if (!Number.isInteger(port) || port < 1 || port > 65_535)
  fail(`--port must be a port number; got ${JSON.stringify(rawPort)}`, 2);
const path = values.path ?? '/drain';
if (!path.startsWith('/')) fail(`--path must start with '/'; got ${JSON.stringify(path)}`, 2);
const timeoutMs = Number(values['timeout-ms'] ?? 5000);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail('--timeout-ms must be a positive number', 2);
// Loopback: the admin server takes the proof only with a loopback Host. IPv4 first, then IPv6 for IPv6-only pods.
const hosts = values.host ? [values.host] : ['127.0.0.1', '::1'];
const proofFile = proofPath(port);
let proof: string;
try {
  proof = readProof(proofFile);
} catch (error) {
  fail(
    `cannot read the drain proof at ${proofFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): run baton-drain in the gateway's own container (the preStop exec), with the admin server started; or set BATON_ADMIN_PROOF_FILE to where it writes it`,
  );
}

function ask(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { [PROOF_HEADER]: proof };
    const req = request({ host, port, path, method: 'POST', headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

let lastError = '';
for (const host of hosts) {
  try {
    const { status, body } = await ask(host);
    if (status === 200 || status === 202) {
      process.stdout.write(`${body}\n`);
      process.exit(0);
    }
    fail(`the admin server at ${host}:${port}${path} answered ${status}: ${body.slice(0, 300)}`);
  } catch (error) {
    lastError = `${host}:${port}: ${(error as Error).message}`;
  }
}
fail(`could not reach the admin server (${lastError})`);
