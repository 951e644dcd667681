// nginx as a WebSocket proxy beside the relay in `pnpm bench:relay`: Debian's nginx-light (installed by
// `scripts/setup.sh --browser`), started by the bench with a configuration it writes — one worker,
// `proxy_pass` with the Upgrade and Connection headers, no access log, no buffering — on loopback. Its CPU
// and memory are read from /proc (master and worker), as the Node processes report theirs over IPC.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

export function nginxAvailable() {
  return existsSync(NGINX_PATH);
}

/** A port free on 127.0.0.1 now (nginx cannot report the one it got). */
async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function configuration(dir, port, upstreamPort) {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`;
}

/** Start nginx in front of `upstreamUrl` (ws://127.0.0.1:PORT); resolves once it accepts connections. */
export async function startNginx(upstreamUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-nginx-'));
  const port = await freePort();
  const config = join(dir, 'nginx.conf');
  writeFileSync(config, configuration(dir, port, new URL(upstreamUrl).port));
  const master = spawn(NGINX_PATH, ['-c', config, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  const exited = once(master, 'exit');
  // Listening once a TCP connect succeeds: tried every 20 ms, at most 10 s.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (master.exitCode !== null) throw new Error(`nginx exited: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    const connected = await canConnect(port);
    if (connected) break;
    if (Date.now() > deadline) throw new Error('nginx did not listen within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const pids = () => [master.pid, ...childrenOf(master.pid)];
  return {
    url: `ws://127.0.0.1:${port}`,
    /** CPU of the master and its worker, in µs. */
    cpuMicros: () => pids().reduce((sum, pid) => sum + cpuMicrosOf(pid), 0),
    /** RSS of the master and its worker, in bytes. */
    rss: () => pids().reduce((sum, pid) => sum + rssOf(pid), 0),
    async stop() {
      if (master.exitCode === null) master.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function childrenOf(pid) {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return parentOf(Number(entry)) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** /proc/<pid>/stat: fields after the command's closing parenthesis (ppid is the 4th field overall). */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function parentOf(pid) {
  return Number(statFields(pid)[1]);
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuMicrosOf(pid) {
  const fields = statFields(pid);
  // utime and stime are the 14th and 15th fields overall: 11th and 12th after the command.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

function rssOf(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}
