// The client fleet when one of its worker processes dies mid-run (the kernel's OOM killer, a kill by hand): the
// run learns it as a coded error, and nothing is thrown at the process running the fleet. Real worker processes
// (the built fleet, as the CLI and the lab run it), a real ws server.

import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { useCleanups } from '../../../test/support/cleanups.js';
import { Fleet } from '../dist/index.js';

const cleanups = useCleanups();

it('a fleet worker killed mid-run: progress and report reject with BATON_ERR_PROBE_FLEET, nothing is thrown', async () => {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  let connected = 0;
  const allConnected = new Promise<void>((resolve) =>
    wss.on('connection', () => {
      if (++connected === 4) resolve();
    }),
  );
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(() => {
    for (const socket of wss.clients) socket.terminate();
    return new Promise((resolve) => http.close(resolve));
  });
  const fleet = await Fleet.start({
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    clients: 4,
    workers: 2,
    kind: 'plain',
    initialDelayMs: 100,
    maxDelayMs: 1_000,
    rampMs: 0,
  });
  cleanups.push(() => fleet.stop());
  await allConnected;
  // This process's fleet workers; one of them is killed.
  const pids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'fleet-worker'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  expect(pids).toHaveLength(2);
  process.kill(pids[0] as number, 'SIGKILL');
  const gone = expect.objectContaining({ code: 'BATON_ERR_PROBE_FLEET', message: expect.stringContaining('SIGKILL') });
  await expect(fleet.progress()).rejects.toThrowError(gone);
  // Asked again once it has ended: at once, the same way.
  await expect(fleet.report()).rejects.toThrowError(gone);
  await fleet.stop();
});
