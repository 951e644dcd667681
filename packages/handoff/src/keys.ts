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

/** Text people paste before they generate a real secret (the chart's own placeholder included). */
const PLACEHOLDER = /replace[-_ ]?me|change[-_ ]?me|placeholder|example|your[-_ ]?(key|secret)|^(secret|password)/i;

/**
 * Why a secret is too weak to seal sessions with, or undefined. Key material is what the text encodes: 64 hex
 * characters or 44 base64 ones are 32 bytes; a shorter encoding is fewer, whatever its length as text.
 */
function weaknessOf(material: Buffer, text: string | undefined): string | undefined {
  if (text !== undefined && PLACEHOLDER.test(text)) return 'looks like a placeholder, not a generated secret';
  const decoded = text === undefined ? material : decodedMaterial(text);
  if (decoded.length < 32) return `must hold at least 32 bytes of key material (it holds ${decoded.length})`;
  if (new Set(decoded).size < 8) return 'repeats too few distinct bytes to be a generated secret';
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
