// @baton/client in a real browser: headless Chromium (Debian's chromium, driven by playwright-core; .ci/run
// installs it) loads the browser build, connects through the TCP balancer to a v1 gateway process, and
// lives through a release to v2 with a drain and a session handoff.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { budgetEnv, type GatewayProcess, NodeBalancer, startGateway } from '../packages/lab/src/harness/index.js';
import { launchChromium } from './support/chromium.js';
import { TEST_HANDOFF_KEYS } from './support/secrets.js';

const gatewayScript = fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url));
const bundle = fileURLToPath(new URL('../packages/client/dist/baton-client.min.js', import.meta.url));

const page = (wsUrl: string) => `<!doctype html><meta charset="utf-8"><title>baton client</title>
<script type="module">
import { BatonSocket } from '/baton-client.min.js';
const state = (window.__baton = { ticks: [], closes: [], migrations: 0, resumed: 0, opened: false, lastVersion: '' });
const socket = new BatonSocket(${JSON.stringify(wsUrl)}, [], {
  dedupe: (data) => { const m = JSON.parse(data); return m.type === 'tick' ? m.session + ':' + m.n : undefined; },
});
socket.onopen = () => { state.opened = true; };
socket.onmessage = (event) => {
  const m = JSON.parse(event.data);
  if (m.type === 'tick') { state.ticks.push({ session: m.session, n: m.n, version: m.version }); state.lastVersion = m.version; }
};
socket.onclose = (event) => state.closes.push(event.code);
socket.addEventListener('migrated', () => state.migrations++);
socket.addEventListener('resumed', () => state.resumed++);
</script>`;

describe('@baton/client in headless Chromium', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('moves to the new version through a drain without an app-visible close, resuming the session', async () => {
    const env = (version: string) => ({
      APP_VERSION: version,
      TICK_MS: '100',
      BATON_HANDOFF_KEYS: TEST_HANDOFF_KEYS,
      ...budgetEnv({
        gracePeriodMs: 6_000,
        propagationDelayMs: 500,
        drainWindowMs: 2_000,
        closeTimeoutMs: 1_000,
        safetyMarginMs: 1_000,
      }),
    });
    const pods: GatewayProcess[] = [];
    cleanups.push(() => Promise.all(pods.map((pod) => pod.stop())));
    const balancer = new NodeBalancer();
    await balancer.listen();
    cleanups.push(() => balancer.close());
    const v1 = await startGateway(gatewayScript, env('v1'));
    pods.push(v1);
    await balancer.update([{ port: v1.port, ready: true, terminating: false }]);

    const http = createServer((req, res) => {
      if (req.url === '/baton-client.min.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        res.end(readFileSync(bundle));
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(page(`ws://127.0.0.1:${balancer.port}/`));
      }
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanups.push(() => new Promise((resolve) => http.close(resolve)));

    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(String(error)));
    await tab.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { __baton: { ticks: unknown[] } }).__baton.ticks.length >= 3);

    const v2 = await startGateway(gatewayScript, env('v2'));
    pods.push(v2);
    await balancer.update([{ port: v2.port, ready: true, terminating: false }]);
    v1.child.kill('SIGTERM');
    expect((await v1.exited).code).toBe(0);
    await tab.waitForFunction(() => {
      const state = (window as unknown as { __baton: { ticks: { version: string }[] } }).__baton;
      return state.ticks.filter((tick) => tick.version === 'v2').length >= 5;
    });

    const state = await tab.evaluate(() => (window as unknown as { __baton: unknown }).__baton);
    const { ticks, closes, migrations, resumed } = state as {
      ticks: { session: string; n: number; version: string }[];
      closes: number[];
      migrations: number;
      resumed: number;
    };
    expect(errors).toEqual([]);
    expect(closes).toEqual([]);
    expect(migrations).toBe(1);
    expect(resumed).toBe(1);
    expect(new Set(ticks.map((tick) => tick.session)).size).toBe(1);
    const numbers = ticks.map((tick) => tick.n);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => (numbers[0] as number) + i));
    expect(ticks[0]?.version).toBe('v1');
    expect(ticks.at(-1)?.version).toBe('v2');
  });
});
