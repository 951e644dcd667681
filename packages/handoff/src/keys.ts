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
    if (material.length < 32) {
      // The message names the key id, never any part of the secret.
      throw optionError(
        RangeError,
        `keys[${index}].secret (key "${id}") must be at least 32 bytes; generate one with: openssl rand -base64 32`,
      );
    }
    const key = Buffer.from(hkdfSync('sha256', material, 'baton-handoff-v1', id, 32));
    return { id, idBytes: Buffer.from(id, 'ascii'), key };
  });
}
