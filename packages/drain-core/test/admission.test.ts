// Admission control on a real ws server: the cap holds, the excess is refused before the upgrade with 503, a
// jittered Retry-After and a coded body, nothing accepted is dropped, and a client with a resume token that
// opens has its own allowance.

import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../../test/support/cleanups.js';
import { tryUpgrade } from '../../../test/support/clients.js';
import { startWsServer } from '../../../test/support/servers.js';
import { Handoff } from '../../handoff/src/index.js';
import { TokenBucket } from '../src/admission-control.js';
import { DrainController, type DrainOptions } from '../src/index.js';

const cleanups = useCleanups();
const handoff = new Handoff({ keys: [{ id: 'k1', secret: 'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9pY7uE3iO1wT8=' }] });

async function gateway(options: DrainOptions) {
  const server = await startWsServer('server');
  const controller = new DrainController({ signals: false, metrics: false, ...options });
  controller.attach(server.wss);
  cleanups.push(
    () => server.close(),
    () => controller.destroy(),
  );
  return { server, controller };
}

describe('TokenBucket', () => {
  it('gives a burst at once, then tokens at the rate', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(50)).toBe(false); // half a token
    expect(bucket.take(100)).toBe(true); // 100 ms at 10/s: one
    expect(bucket.take(10_000)).toBe(true);
    expect([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)]).toEqual([true, true, false]);
  });
});

describe('admission control', () => {
  it('accepts the burst, refuses the excess before the upgrade with 503 and a jittered Retry-After', async () => {
    const { server, controller } = await gateway({
      admission: { maxAcceptsPerSecond: 2, burst: 4, maxRetryAfterSeconds: 3 },
    });
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 12 }, () => tryUpgrade(server.url)));
    const elapsedSeconds = (performance.now() - started) / 1000;
    const accepted = answers.filter((answer) => answer.status === 101);
    const refused = answers.filter((answer) => answer.status === 503);
    expect(accepted.length + refused.length).toBe(12);
    // The burst, plus what the rate refilled while the 12 handshakes ran.
    expect(accepted.length).toBeGreaterThanOrEqual(4);
    expect(accepted.length).toBeLessThanOrEqual(4 + Math.floor(2 * elapsedSeconds));
    for (const answer of refused) {
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(3);
      expect(JSON.parse(answer.body ?? '')).toMatchObject({ error: { code: 'BATON_ERR_ADMISSION_LIMIT' } });
    }
    // Refused before the upgrade: never tracked, never accepted then closed.
    expect(controller.connectionCount).toBe(accepted.length);
    for (const answer of accepted) expect(answer.ws?.readyState).toBe(answer.ws?.OPEN);
    for (const answer of accepted) answer.ws?.close();
  });

  it('gives upgrades with a resume token that opens their own allowance', async () => {
    const { server } = await gateway({
      hintProtocol: { handoff, snapshot: () => ({}) },
      admission: { maxAcceptsPerSecond: 1, burst: 1, resumeAcceptsPerSecond: 1 },
    });
    const first = await tryUpgrade(server.url);
    expect(first.status).toBe(101);
    // The fresh allowance is spent…
    expect((await tryUpgrade(server.url)).status).toBe(503);
    // …but a client moving with a valid token is admitted from the resume allowance.
    const token = await handoff.seal({ session: 'abc' });
    const resumed = await tryUpgrade(server.url, ['baton.v1', `baton.resume.${token}`]);
    expect(resumed.status).toBe(101);
    // A forged token counts as fresh: refused.
    const forged = await tryUpgrade(server.url, ['baton.v1', `baton.resume.${token.slice(0, -4)}AAAA`]);
    expect(forged.status).toBe(503);
    first.ws?.close();
    resumed.ws?.close();
  });

  it('counts admitted and refused upgrades in baton_admission_total', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const { server, controller } = await gateway({
      metrics: { registry },
      admission: { maxAcceptsPerSecond: 1, burst: 1 },
    });
    await controller.start();
    const answers = [await tryUpgrade(server.url), await tryUpgrade(server.url)];
    expect(answers.map((answer) => answer.status)).toEqual([101, 503]);
    const text = await registry.metrics();
    expect(text).toContain('baton_admission_total{kind="fresh",result="admitted"} 1');
    expect(text).toContain('baton_admission_total{kind="fresh",result="refused"} 1');
    answers[0]?.ws?.close();
  });

  it.each([
    [{ admission: {} }, 'The "admission.maxAcceptsPerSecond" option is required'],
    [{ admission: { maxAcceptsPerSecond: 0 } }, 'must be greater than 0'],
    [{ admission: { maxAcceptsPerSecond: 10, burst: 0.5 } }, 'must be at least 1'],
    [{ admission: { maxAcceptsPerSecond: 10, maxRetryAfterSeconds: 1.5 } }, 'whole number of seconds'],
    [{ admission: { maxAcceptsPerSecond: 10, rate: 3 } }, 'Unknown admission option "rate"'],
    [{ admission: 200 }, 'must be an object such as { maxAcceptsPerSecond: 200 }'],
  ])('refuses %j with a coded error', (options, message) => {
    expect(() => new DrainController({ signals: false, ...(options as DrainOptions) })).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringContaining(message) }),
    );
  });
});
