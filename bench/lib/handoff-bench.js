// Handoff figures: seal+open throughput on one core against the AES-256-GCM floor of node:crypto, and the
// upgrade handshake with a resume token against the same handshake without one.

import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Handoff, TokenSealer } from '@baton/handoff';
import { WebSocket } from 'ws';

const SECRET = 'bench-secret-'.repeat(4);

/** Pairs per second for `durationMs`, after a warm-up. */
function rate(fn, durationMs) {
  for (let i = 0; i < 20_000; i++) fn();
  let pairs = 0;
  const started = performance.now();
  let now = started;
  while (now - started < durationMs) {
    for (let i = 0; i < 1000; i++) fn();
    pairs += 1000;
    now = performance.now();
  }
  return (pairs / (now - started)) * 1000;
}

export function sealOpenRates(durationMs) {
  const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: SECRET }] });
  // A gateway-like session: an id and a counter.
  const state = { id: randomUUID(), n: 123_456 };
  const ours = rate(() => sealer.open(sealer.seal(state)), durationMs);
  // The floor: the same cipher on the same plaintext size, with no framing, JSON or checks.
  const key = randomBytes(32);
  const plaintext = Buffer.from(JSON.stringify({ e: Date.now(), s: state }));
  const floor = rate(() => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    Buffer.concat([decipher.update(body), decipher.final()]);
  }, durationMs);
  return { ours, floor };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Sequential handshakes (new WebSocket → 'open'), alternating with and without a resume token. */
export async function handshakeLatency(url, count) {
  const handoff = new Handoff({ keys: [{ id: 'bench', secret: SECRET }], ttlMs: 600_000 });
  const token = await handoff.seal({ id: randomUUID(), n: 42 });
  const plain = [];
  const resumed = [];
  for (let i = 0; i < count * 2; i++) {
    const withToken = i % 2 === 1;
    const protocols = withToken ? ['baton.v1', `baton.resume.${token}`] : ['baton.v1'];
    const started = performance.now();
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    await once(ws, 'open');
    (withToken ? resumed : plain).push(performance.now() - started);
    ws.terminate();
  }
  // The first few handshakes warm up both paths.
  const warm = (values) => values.slice(Math.min(50, values.length >> 2));
  return {
    plainP50: percentile(warm(plain), 50),
    plainP99: percentile(warm(plain), 99),
    resumeP50: percentile(warm(resumed), 50),
    resumeP99: percentile(warm(resumed), 99),
    tokenLength: token.length,
  };
}

export { SECRET as HANDOFF_BENCH_SECRET };
