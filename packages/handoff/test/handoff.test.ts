import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Handoff, HandoffError, MemoryStore, TokenSealer } from '../src/index.js';
import { deriveKeys } from '../src/keys.js';
import { SEALS_PER_SUBKEY } from '../src/token-sealer.js';

// Test-only secrets, shaped like what `openssl rand -base64 32` prints (weak ones are refused).
const secretA = 'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9pY7uE3iO1wT8=';
const secretB = Buffer.from('8c1f4e7a2b9d6053f1a8c4e7b2d9f6031e5a8c7b4d2f9e6a3c1b8d5f7e2a4c9b', 'hex');

function codeOf(fn: () => unknown): string | undefined {
  return (thrown(fn) as { code?: string }).code;
}

/** What `fn` throws; fails the test when it throws nothing, so a check on the error can never be skipped. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  return expect.fail('expected a throw, and nothing was thrown');
}

describe('TokenSealer', () => {
  it('round-trips JSON state', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const state = { session: 'abc', n: 41, nested: { list: [1, 'two', null], ok: true } };
    const token = sealer.seal(state);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(sealer.open(token)).toEqual(state);
  });

  it('produces a different token each time (random IV)', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    expect(sealer.seal({ a: 1 })).not.toBe(sealer.seal({ a: 1 }));
  });

  it('rotates keys: the first key seals, all keys open', () => {
    const old = new TokenSealer({ keys: [{ id: 'old', secret: secretA }] });
    const rotated = new TokenSealer({
      keys: [
        { id: 'new', secret: secretB },
        { id: 'old', secret: secretA },
      ],
    });
    const oldToken = old.seal({ from: 'old' });
    expect(rotated.open(oldToken)).toEqual({ from: 'old' });
    const newToken = rotated.seal({ from: 'new' });
    expect(codeOf(() => old.open(newToken))).toBe('BATON_ERR_TOKEN_BAD_KEY');
  });

  it('rejects a token sealed by another cluster with the same key id', () => {
    const ours = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const theirs = new TokenSealer({ keys: [{ id: 'k1', secret: secretB }] });
    expect(codeOf(() => ours.open(theirs.seal({ x: 1 })))).toBe('BATON_ERR_TOKEN_FORGED');
  });

  it('expires tokens after the TTL', () => {
    let now = 1_000_000;
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }], ttlMs: 5_000, now: () => now });
    const token = sealer.seal({ x: 1 });
    now += 4_999;
    expect(sealer.open(token)).toEqual({ x: 1 });
    now += 1;
    expect(codeOf(() => sealer.open(token))).toBe('BATON_ERR_TOKEN_EXPIRED');
  });

  it('refuses oversized state on seal and oversized tokens on open', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }], maxTokenBytes: 256 });
    expect(codeOf(() => sealer.seal({ big: 'x'.repeat(500) }))).toBe('BATON_ERR_TOKEN_TOO_LARGE');
    expect(codeOf(() => sealer.open('A'.repeat(257)))).toBe('BATON_ERR_TOKEN_TOO_LARGE');
  });

  it.each([
    ['a number', 42],
    ['empty', ''],
    ['not base64url', 'abc$def'],
    ['too short', 'AQJrMQ'],
    ['wrong version', Buffer.alloc(40, 2).toString('base64url')],
  ])('rejects %s as malformed', (_label, token) => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    expect(codeOf(() => sealer.open(token))).toBe('BATON_ERR_TOKEN_MALFORMED');
  });

  it('detects every single-bit flip and every truncation', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const token = sealer.seal({ session: 's', n: 1 });
    const bytes = Buffer.from(token, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = (flipped[i] as number) ^ 1;
      const code = codeOf(() => sealer.open(flipped.toString('base64url')));
      expect(['BATON_ERR_TOKEN_FORGED', 'BATON_ERR_TOKEN_MALFORMED', 'BATON_ERR_TOKEN_BAD_KEY']).toContain(code);
    }
    for (let length = 1; length < token.length; length++) {
      expect(codeOf(() => sealer.open(token.slice(0, length)))).toMatch(/^BATON_ERR_TOKEN_/);
    }
  });

  it('never puts the secret or the token in an error message', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const token = sealer.seal({ x: 1 });
    // A character inside the token changed for certain (the last one may carry only padding bits, which
    // base64url decoding ignores, so changing it can leave the bytes as they were).
    const middle = Math.floor(token.length / 2);
    const changed = token.slice(0, middle) + (token[middle] === 'A' ? 'B' : 'A') + token.slice(middle + 1);
    for (const bad of [`${token}x`, token.slice(0, -2), changed]) {
      const { message } = thrown(() => sealer.open(bad));
      expect(message).not.toContain(bad.slice(0, 20));
      expect(message).not.toContain(secretA);
    }
    const error = thrown(() => new TokenSealer({ keys: [{ id: 'short', secret: 'tooshort-secret' }] }));
    expect(error).toMatchObject({ name: 'RangeError', code: 'BATON_ERR_INVALID_OPTION' });
    expect(error.message).toContain('key "short"');
    expect(error.message).not.toContain('tooshort-secret');
  });

  it.each([
    ["the chart's placeholder", 'REPLACE-ME-with-openssl-rand-base64-32-output', 'placeholder'],
    ['a changeme-like text', 'changeme-changeme-changeme-changeme-1234', 'placeholder'],
    ['32 × "a"', 'a'.repeat(32), 'key material'],
    ['all one byte', Buffer.alloc(48, 7), 'distinct bytes'],
    ['a short base64 key (24 bytes)', 'q3W9zR7tL1mX5vB8nC2kJ6hD4gF0sA9p', 'key material'],
    // The second review's keys, each accepted before: a short period, few distinct bytes, placeholder words
    // (also base64'd, and in a Buffer).
    ['hex 0123456789abcdef × 4', '0123456789abcdef'.repeat(4), 'distinct bytes'],
    [
      'base64 of bytes 00–07 × 4',
      Buffer.from([...Array(32).keys()].map((i) => i % 8)).toString('base64'),
      'distinct bytes',
    ],
    ['a 20-byte pattern × 2', Buffer.concat([secretB.subarray(0, 20), secretB.subarray(0, 20)]), 'repeats a pattern'],
    ['Passw0rd! × 4', 'Passw0rd!'.repeat(4), 'placeholder'],
    ['changeit…', `changeit-${secretA}`, 'placeholder'],
    ['todo-generate-a-real-key…', 'todo-generate-a-real-key-before-release-2026', 'placeholder'],
    [
      "base64 of the chart's CI key",
      Buffer.from('test-only-handoff-key-for-the-chart-ci-0001').toString('base64'),
      'placeholder',
    ],
    ['a Buffer holding a placeholder', Buffer.from('REPLACE-ME-with-openssl-rand-base64-32-output'), 'placeholder'],
  ])('refuses a weak secret: %s, without quoting it', (_label, secret, why) => {
    expect(() => new TokenSealer({ keys: [{ id: 'k1', secret }] })).toThrowError(
      expect.objectContaining({
        name: 'RangeError',
        code: 'BATON_ERR_INVALID_OPTION',
        message: expect.stringContaining(why),
      }),
    );
    const { message } = thrown(() => new TokenSealer({ keys: [{ id: 'k1', secret }] }));
    if (typeof secret === 'string') expect(message).not.toContain(secret.slice(0, 12));
  });

  it('accepts generated keys: 2,000 of each of random bytes, their base64 and their hex (none spells a refusal)', () => {
    for (let i = 0; i < 2_000; i++) {
      const bytes = randomBytes(32);
      for (const secret of [bytes, bytes.toString('base64'), bytes.toString('hex')])
        expect(() => new TokenSealer({ keys: [{ id: 'k1', secret }] })).not.toThrow();
    }
  });

  it.each([
    [{ keys: [] }, 'The "keys" option must be a non-empty array'],
    [{ keys: [{ id: 'has space', secret: secretA }] }, 'keys[0].id must be 1-32 characters'],
    [
      {
        keys: [
          { id: 'k', secret: secretA },
          { id: 'k', secret: secretB },
        ],
      },
      'keys[1].id "k" is used twice',
    ],
    [{ keys: [{ id: 'k', secret: 5 }] }, 'keys[0].secret must be a Buffer or a string.'],
    [{ keys: [{ id: 'k', secret: secretA }], ttlMs: 0 }, 'The "ttlMs" option must be greater than 0; received 0.'],
    [{ keys: [{ id: 'k', secret: secretA }], maxTokenBytes: 1.5 }, 'The "maxTokenBytes" option must be an integer'],
  ])('validates options: %j', (options, message) => {
    expect(() => new TokenSealer(options as never)).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringContaining(message) }),
    );
  });

  it('states that JSON cannot encode give a coded error', () => {
    const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => sealer.seal(cyclic))).toBe('BATON_ERR_STATE_UNSERIALIZABLE');
    expect(codeOf(() => sealer.seal({ n: 10n }))).toBe('BATON_ERR_STATE_UNSERIALIZABLE');
  });
});

describe('TokenSealer nonce budget: no AES-GCM key near its random-IV limit', () => {
  const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
  const [configured] = deriveKeys([{ id: 'k1', secret: secretA }]);
  const parts = (token: string) => {
    const bytes = Buffer.from(token, 'base64url');
    const idLength = bytes[1] as number;
    const nonce = bytes.subarray(2 + idLength, 2 + idLength + 24);
    return {
      version: bytes[0],
      aad: bytes.subarray(0, 2 + idLength),
      nonce,
      body: bytes.subarray(2 + idLength + 24, bytes.length - 16),
      tag: bytes.subarray(bytes.length - 16),
    };
  };

  it('gives every token an AES key of its own: the configured key never encrypts a token directly', () => {
    const token = sealer.seal({ n: 1 });
    const { version, aad, nonce, body, tag } = parts(token);
    expect(version).toBe(2);
    // Under the configured key itself, with any 12 bytes of the nonce as IV, the token does not authenticate.
    for (const iv of [nonce.subarray(0, 12), nonce.subarray(12, 24)]) {
      const decipher = createDecipheriv('aes-256-gcm', configured?.key as Buffer, iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      decipher.update(body);
      expect(() => decipher.final()).toThrow();
    }
    // Under HKDF-Expand(configured key, "baton-token-v2" ‖ the nonce's first 12 bytes), with its last 12 as IV,
    // it does.
    const key = createHmac('sha256', configured?.key as Buffer)
      .update(Buffer.concat([Buffer.from('baton-token-v2'), nonce.subarray(0, 12), Buffer.from([1])]))
      .digest();
    const decipher = createDecipheriv('aes-256-gcm', key, nonce.subarray(12));
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    expect(JSON.parse(plaintext).s).toEqual({ n: 1 });
  });

  it('draws a fresh IV for every token, and a new subkey salt every SEALS_PER_SUBKEY (65,536) tokens', () => {
    const fresh = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const salts: string[] = [];
    const ivs = new Set<string>();
    for (let i = 0; i <= SEALS_PER_SUBKEY; i++) {
      const { nonce } = parts(fresh.seal(i));
      salts.push(nonce.toString('hex', 0, 12));
      ivs.add(nonce.toString('hex', 12, 24));
    }
    expect(SEALS_PER_SUBKEY).toBe(65_536);
    expect(ivs.size).toBe(SEALS_PER_SUBKEY + 1);
    // One salt (one subkey) for the first 65,536 tokens, then another: no subkey encrypts more than 2^16 times.
    expect(new Set(salts.slice(0, SEALS_PER_SUBKEY)).size).toBe(1);
    expect(salts[SEALS_PER_SUBKEY]).not.toBe(salts[0]);
    // Another sealer (another pod) has a salt of its own, and each opens the other's tokens.
    const other = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
    const token = other.seal({ from: 'other' });
    expect(parts(token).nonce.toString('hex', 0, 12)).not.toBe(salts[0]);
    expect(fresh.open(token)).toEqual({ from: 'other' });
    expect(other.open(fresh.seal({ from: 'fresh' }))).toEqual({ from: 'fresh' });
  });

  it("still opens version 1 tokens (the previous release seals them: pods of both resume each other's clients)", () => {
    const header = Buffer.from([1, 2, ...Buffer.from('k1')]);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', configured?.key as Buffer, iv);
    cipher.setAAD(header);
    const body = Buffer.concat([
      cipher.update(JSON.stringify({ e: Date.now() + 60_000, s: { legacy: true } })),
      cipher.final(),
    ]);
    const token = Buffer.concat([header, iv, body, cipher.getAuthTag()]).toString('base64url');
    expect(sealer.open(token)).toEqual({ legacy: true });
    // Altered, it fails authentication like any token.
    const altered = Buffer.from(token, 'base64url');
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    expect(() => sealer.open(altered.toString('base64url'))).toThrowError(
      expect.objectContaining({ code: 'BATON_ERR_TOKEN_FORGED' }),
    );
  });
});

describe('TokenSealer properties (fast-check)', () => {
  const sealer = new TokenSealer({ keys: [{ id: 'k1', secret: secretA }] });
  const valid = sealer.seal({ session: 'abc', n: 1 });

  it('opens arbitrary strings without any exception but a coded HandoffError (10,000 cases)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 600 }),
          fc.base64String({ maxLength: 600 }),
          fc.string({ unit: 'binary', maxLength: 300 }),
        ),
        (input) => {
          try {
            sealer.open(input);
            return false; // nothing random may open
          } catch (error) {
            return error instanceof HandoffError && error.code.startsWith('BATON_ERR_TOKEN_');
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });

  it('rejects every mutation of a valid token with a coded error (5,000 cases)', () => {
    fc.assert(
      fc.property(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...'ABCabc0123-_'), (at, replacement) => {
        const mutated = valid.slice(0, at) + replacement + valid.slice(at + 1);
        if (mutated === valid) return true;
        try {
          sealer.open(mutated);
          // base64url's last character carries padding bits that decode identically; that is the only allowed success.
          return at === valid.length - 1;
        } catch (error) {
          return error instanceof HandoffError;
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it('round-trips any JSON value (2,000 cases)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const roundTripped = sealer.open(sealer.seal(value));
        expect(roundTripped).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('Handoff', () => {
  it('is stateless by default', async () => {
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }] });
    const token = await handoff.seal({ n: 3 });
    expect(await handoff.open(token)).toEqual({ n: 3 });
    expect(await handoff.open(token)).toEqual({ n: 3 });
  });

  it('in store mode keeps state server-side and makes tokens single-use', async () => {
    const store = new MemoryStore();
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store });
    const big = { history: 'x'.repeat(10_000) };
    const token = await handoff.seal(big);
    expect(token.length).toBeLessThan(200);
    expect(store.size).toBe(1);
    expect(await handoff.open(token)).toEqual(big);
    await expect(handoff.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_REPLAYED' });
    expect(store.size).toBe(0);
  });

  it('in store mode expires entries with the TTL', async () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now });
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store, ttlMs: 1000, now: () => now });
    const token = await handoff.seal({ n: 1 });
    now = 999;
    const second = await handoff.seal({ n: 2 });
    now = 1500;
    await expect(handoff.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_EXPIRED' });
    expect(await handoff.open(second)).toEqual({ n: 2 });
  });

  it('in store mode keeps one live token per session: each seal supersedes the one before', async () => {
    const store = new MemoryStore();
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store });
    const session = {};
    const first = await handoff.seal({ n: 1 }, session);
    const second = await handoff.seal({ n: 2 }, session);
    const third = await handoff.seal({ n: 3 }, session);
    // One entry for the session, not one per token.
    expect(store.size).toBe(1);
    for (const older of [first, second]) {
      await expect(handoff.open(older)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
    }
    // A superseded try leaves the newest alone.
    expect(await handoff.open(third)).toEqual({ n: 3 });
    await expect(handoff.open(third)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_REPLAYED' });
    // Other sessions are other lineages.
    const other = await handoff.seal({ n: 9 }, {});
    expect(await handoff.open(other)).toEqual({ n: 9 });
  });

  it('in store mode restore() puts back a token whose upgrade was refused, unless a newer one was issued', async () => {
    const store = new MemoryStore();
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store });
    const session = {};
    const token = await handoff.seal({ n: 1 }, session);
    const state = await handoff.open(token);
    await handoff.restore(token, state);
    expect(await handoff.open(token)).toEqual({ n: 1 });
    // Taken again, then the old pod checkpoints the session anew before the refused upgrade is restored.
    await handoff.restore(token, state);
    await handoff.open(token);
    const newer = await handoff.seal({ n: 2 }, session);
    await handoff.restore(token, state);
    await expect(handoff.open(token)).rejects.toMatchObject({ code: 'BATON_ERR_TOKEN_SUPERSEDED' });
    expect(await handoff.open(newer)).toEqual({ n: 2 });
  });

  it('restore() does nothing for an expired token, and nothing without a store', async () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now });
    const handoff = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store, ttlMs: 1000, now: () => now });
    const token = await handoff.seal({ n: 1 });
    const state = await handoff.open(token);
    now = 1000;
    await handoff.restore(token, state);
    expect(store.size).toBe(0);
    const stateless = new Handoff({ keys: [{ id: 'k1', secret: secretA }] });
    await expect(stateless.restore(await stateless.seal({ n: 1 }), { n: 1 })).resolves.toBeUndefined();
  });

  it('refuses a stateless token in store mode', async () => {
    const stateless = new Handoff({ keys: [{ id: 'k1', secret: secretA }] });
    const stored = new Handoff({ keys: [{ id: 'k1', secret: secretA }], store: new MemoryStore() });
    await expect(stored.open(await stateless.seal({ n: 1 }))).rejects.toMatchObject({
      code: 'BATON_ERR_TOKEN_MALFORMED',
    });
  });
});
