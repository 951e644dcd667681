// Sealing keys. The first key seals, every key opens: rotate by putting a new key first, and drop the old
// one once no token sealed with it can still be alive (after the TTL). Each secret is stretched with HKDF so
// the AES key is uniform whatever the secret's encoding.

import { hkdfSync } from 'node:crypto';
import { optionError } from './errors.js';

export interface HandoffKey {
  /** 1–32 characters of [A-Za-z0-9_-]; travels in every token (not secret). */
  id: string;
  /** At least 32 bytes of secret: a Buffer, or a string (e.g. 64 hex or 44 base64 characters from a Secret). */
  secret: Buffer | string;
}

export interface DerivedKey {
  readonly id: string;
  readonly idBytes: Buffer;
  readonly key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export function deriveKeys(keys: unknown): DerivedKey[] {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw optionError(
      TypeError,
      'The "keys" option must be a non-empty array of { id, secret }; the first key seals, all keys open.',
    );
  }
  const seen = new Set<string>();
  return keys.map((entry: unknown, index) => {
    const { id, secret } = (entry ?? {}) as Partial<HandoffKey>;
    if (typeof id !== 'string' || !KEY_ID.test(id)) {
      throw optionError(TypeError, `keys[${index}].id must be 1-32 characters of A-Z, a-z, 0-9, _ or -.`);
    }
    if (seen.has(id)) throw optionError(TypeError, `keys[${index}].id "${id}" is used twice; key ids must be unique.`);
    seen.add(id);
    let material: Buffer;
    if (Buffer.isBuffer(secret)) material = secret;
    else if (typeof secret === 'string') material = Buffer.from(secret, 'utf8');
    else throw optionError(TypeError, `keys[${index}].secret must be a Buffer or a string.`);
    // The messages name the key id, never any part of the secret.
    const weakness = weaknessOf(material, typeof secret === 'string' ? secret : undefined);
    if (weakness) {
      throw optionError(
        RangeError,
        `keys[${index}].secret (key "${id}") ${weakness}; generate one with: openssl rand -base64 32`,
      );
    }
    const key = Buffer.from(hkdfSync('sha256', material, 'baton-handoff-v1', id, 32));
    return { id, idBytes: Buffer.from(id, 'ascii'), key };
  });
}

/**
 * Text people paste before they generate a real secret: the chart's own placeholder and CI key included, the
 * usual "change it" words, and passwords. Words of six letters or more are looked for in any text: random
 * base64 spells one about once in 10^7 keys. Shorter ones ("todo") it spells about once in 40,000, so those
 * count only in text that encodes nothing (and in what an encoding decodes to, when that is text).
 */
const PLACEHOLDER_WORDS =
  /replace[-_ ]?me|change[-_ ]?(me|it)|placeholder|example|sample|insecure|generate|test[-_ ]?only|your[-_ ]?(key|secret)|default[-_ ]?(key|secret)|passw(or|0)rd/i;
const SHORT_PLACEHOLDER_WORDS = /dummy|todo|fixme|^(secret|password)/i;

/** A random 32-byte key holds about 30 distinct bytes; one with fewer than 16 was not drawn at random. */
const MIN_DISTINCT_BYTES = 16;

/**
 * Why a secret is too weak to seal sessions with, or undefined. Key material is what the text encodes: 64 hex
 * characters or 44 base64 ones are 32 bytes; a shorter encoding is fewer, whatever its length as text. The
 * placeholder words are looked for in the text, and in what it encodes when that is text too (a base64'd
 * placeholder, a Buffer holding one).
 */
function weaknessOf(material: Buffer, text: string | undefined): string | undefined {
  const decoded = text === undefined ? material : decodedMaterial(text);
  const encoded = text !== undefined && decoded.length >= 32 && !decoded.equals(material);
  const plain = [encoded ? undefined : text, printable(decoded)].filter((t): t is string => t !== undefined);
  if (
    (text !== undefined && PLACEHOLDER_WORDS.test(text)) ||
    plain.some((t) => PLACEHOLDER_WORDS.test(t) || SHORT_PLACEHOLDER_WORDS.test(t))
  )
    return 'looks like a placeholder, not a generated secret';
  if (decoded.length < 32) return `must hold at least 32 bytes of key material (it holds ${decoded.length})`;
  if (new Set(decoded).size < MIN_DISTINCT_BYTES)
    return `repeats too few distinct bytes to be a generated secret (fewer than ${MIN_DISTINCT_BYTES})`;
  const period = shortPeriod(decoded);
  if (period !== undefined) return `repeats a pattern of ${period} bytes: not a generated secret`;
  return undefined;
}

/** The bytes as text when they are (nearly all) printable ASCII, else undefined. */
function printable(bytes: Buffer): string | undefined {
  let visible = 0;
  for (const byte of bytes) if (byte >= 0x20 && byte < 0x7f) visible++;
  return visible >= bytes.length * 0.9 ? bytes.toString('latin1') : undefined;
}

/** The smallest p ≤ length / 2 with bytes[i] = bytes[i + p] throughout (a repeated pattern), or undefined. */
function shortPeriod(bytes: Buffer): number | undefined {
  for (let period = 1; period <= bytes.length / 2; period++) {
    let repeats = true;
    for (let i = 0; i + period < bytes.length && repeats; i++) repeats = bytes[i] === bytes[i + period];
    if (repeats) return period;
  }
  return undefined;
}

function decodedMaterial(text: string): Buffer {
  const trimmed = text.trim();
  if (/^(?:[0-9a-fA-F]{2})+$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) && trimmed.length % 4 !== 1) {
    return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  return Buffer.from(text, 'utf8');
}
