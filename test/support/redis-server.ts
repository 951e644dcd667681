// Real redis-server processes (Debian's, installed by scripts/setup.sh --browser) on free loopback ports, for
// the tests of the Redis session store: started and stopped by the test, never a shared instance. stop() and
// start() again on the same port model an outage and a recovery. Also a TLS listener with a certificate made
// for the test (openssl, a Debian package setup.sh installs), and a 3-master Redis Cluster on loopback,
// assembled with CLUSTER ADDSLOTSRANGE and CLUSTER MEET (what redis-cli --cluster create does).

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'redis';

export interface RedisServer {
  readonly port: number;
  /** A cluster node's bus port. */
  readonly busPort?: number;
  readonly url: string;
  /** Stop the server (SIGKILL: an outage, not a shutdown). */
  stop(): Promise<void>;
  /** Start it again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
}

export interface RedisServerOptions {
  /** Listen with TLS only (no plain port), with this certificate. */
  tls?: TestCertificate;
  /** Run as a cluster node; its node table goes in `dir`. */
  cluster?: { dir: string };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const listen = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.certFile,
        '--tls-key-file',
        options.tls.keyFile,
        '--tls-ca-cert-file',
        options.tls.certFile,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const busPort = options.cluster ? await freePort() : undefined;
  const cluster = options.cluster
    ? [
        '--cluster-enabled',
        'yes',
        // The bus on a port of its own: the default, port + 10000, is past 65535 for half the ephemeral range.
        '--cluster-port',
        String(busPort),
        ...(options.tls ? ['--tls-cluster', 'yes'] : []),
        '--cluster-config-file',
        join(options.cluster.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '2000',
        // A node down leaves the others serving their slots (the default, yes, would stop the whole cluster
        // once the failure is noticed: a test's outcome would then hang on that timing).
        '--cluster-require-full-coverage',
        'no',
      ]
    : [];
  let child: ChildProcess | undefined;
  const start = async () => {
    const process_ = spawn(
      'redis-server',
      [...listen, ...cluster, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = process_;
    // Ready once it logs that it accepts connections (an event, not a sleep).
    await new Promise<void>((resolve, reject) => {
      let output = '';
      process_.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('Ready to accept connections')) resolve();
      });
      process_.once('error', (error) =>
        reject(new Error(`redis-server could not start (${error.message}); run ./scripts/setup.sh --browser`)),
      );
      process_.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`)));
    });
  };
  await start();
  return {
    port,
    ...(busPort === undefined ? {} : { busPort }),
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    },
    start,
  };
}

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate, PEM: what a client trusts as its CA (it is self-signed). */
  readonly certPem: string;
  remove(): Promise<void>;
}

/** A self-signed P-256 certificate for 127.0.0.1, valid one day, made with openssl in a fresh directory. */
export async function makeTestCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]).catch((error: Error) => {
    throw new Error(`openssl could not make a test certificate (${error.message}); run ./scripts/setup.sh --browser`);
  });
  return {
    certFile,
    keyFile,
    certPem: await readFile(certFile, 'utf8'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface RedisCluster {
  /** The masters, each owning a third of the 16,384 slots, in slot order. */
  readonly nodes: RedisServer[];
  stop(): Promise<void>;
}

/**
 * Three cluster-enabled masters on loopback, slots split evenly, no replicas; with `tls`, every port (clients'
 * and the cluster bus) speaks TLS only. Resolves once the cluster is ok.
 */
export async function startRedisCluster(options: { tls?: TestCertificate } = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-redis-cluster-'));
  const nodes = await Promise.all(
    [0, 1, 2].map(() => startRedisServer({ cluster: { dir }, ...(options.tls ? { tls: options.tls } : {}) })),
  );
  const clients = await Promise.all(
    nodes.map((node) =>
      createClient({
        url: node.url,
        ...(options.tls ? { socket: { tls: true as const, ca: options.tls.certPem } } : {}),
      }).connect(),
    ),
  );
  try {
    const ranges = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ];
    await Promise.all(
      clients.map((client, index) =>
        client.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', ...(ranges[index] as number[]).map(String)]),
      ),
    );
    for (const node of nodes.slice(1)) {
      await clients[0]?.sendCommand(['CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(node.busPort)]);
    }
    // Gossip takes a few rounds; each node says when it sees the whole cluster (a condition, re-asked).
    const deadline = Date.now() + 20_000;
    for (const client of clients) {
      for (;;) {
        const info = String(await client.sendCommand(['CLUSTER', 'INFO']));
        if (info.includes('cluster_state:ok') && info.includes('cluster_known_nodes:3')) break;
        if (Date.now() > deadline) throw new Error(`the test cluster did not form: ${info}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    for (const client of clients) client.destroy();
  }
  return {
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
