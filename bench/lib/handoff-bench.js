// Handoff figures: seal+open throughput on one core against the AES-256-GCM floor of node:crypto, and the
// upgrade handshake with a resume token against the same handshake without one.

import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Handoff, TokenSealer } from '@baton/handoff';
import { WebSocket } from 'ws';

// A fresh key per run, as a deployment's Secret holds one (patterned keys are refused).
const SECRET = randomBytes(32).toString('base64');

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

/**
 * Sequential handshakes (new WebSocket → 'open'), alternating with and without a resume token, in rounds.
 * A loopback handshake's p99 is dominated by scheduling and GC noise on a shared 2-core machine, so the
 * figure is the median over rounds of each round's p99 (and p50).
 */
export async function handshakeLatency(url, perRound, rounds) {
  const handoff = new Handoff({ keys: [{ id: 'bench', secret: SECRET }], ttlMs: 600_000 });
  const token = await handoff.seal({ id: randomUUID(), n: 42 });
  const connect = async (protocols) => {
    const started = performance.now();
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    await once(ws, 'open');
    const elapsed = performance.now() - started;
    ws.terminate();
    return elapsed;
  };
  for (let i = 0; i < 200; i++) await connect(i % 2 ? ['baton.v1'] : ['baton.v1', `baton.resume.${token}`]);
  const perRoundFigures = [];
  for (let round = 0; round < rounds; round++) {
    const plain = [];
    const resumed = [];
    for (let i = 0; i < perRound * 2; i++) {
      const withToken = (i + round) % 2 === 1;
      (withToken ? resumed : plain).push(
        await connect(withToken ? ['baton.v1', `baton.resume.${token}`] : ['baton.v1']),
      );
    }
    perRoundFigures.push({
      plainP50: percentile(plain, 50),
      plainP99: percentile(plain, 99),
      resumeP50: percentile(resumed, 50),
      resumeP99: percentile(resumed, 99),
    });
  }
  const medianOf = (key) =>
    percentile(
      perRoundFigures.map((figures) => figures[key]),
      50,
    );
  return {
    // Within a round both kinds of handshake interleave and see the same noise: the median of the
    // per-round differences is the cost of the token.
    p99DeltaMedian: percentile(
      perRoundFigures.map((figures) => figures.resumeP99 - figures.plainP99),
      50,
    ),
    p50DeltaMedian: percentile(
      perRoundFigures.map((figures) => figures.resumeP50 - figures.plainP50),
      50,
    ),
    plainP50: medianOf('plainP50'),
    plainP99: medianOf('plainP99'),
    resumeP50: medianOf('resumeP50'),
    resumeP99: medianOf('resumeP99'),
    rounds: perRoundFigures,
    tokenLength: token.length,
  };
}

/**
 * Resume handshakes only, each with a fresh token from `handoff` (sealed, or stored: a store-mode token opens
 * once), sealing untimed. Median over rounds of each round's p50 and p99.
 */
export async function resumeHandshakeLatency(url, handoff, perRound, rounds) {
  const connect = async () => {
    const token = await handoff.seal({ id: randomUUID(), n: 42 });
    const started = performance.now();
    const ws = new WebSocket(url, ['baton.v1', `baton.resume.${token}`], { perMessageDeflate: false });
    await once(ws, 'open');
    const elapsed = performance.now() - started;
    ws.terminate();
    return elapsed;
  };
  for (let i = 0; i < 100; i++) await connect();
  const p50s = [];
  const p99s = [];
  for (let round = 0; round < rounds; round++) {
    const times = [];
    for (let i = 0; i < perRound; i++) times.push(await connect());
    p50s.push(percentile(times, 50));
    p99s.push(percentile(times, 99));
  }
  return { p50: percentile(p50s, 50), p99: percentile(p99s, 50) };
}

export { SECRET as HANDOFF_BENCH_SECRET };
