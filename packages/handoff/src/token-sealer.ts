// Stateless session tokens: the state itself, JSON-encoded, encrypted and authenticated with AES-256-GCM.
//
//   token = base64url( version 0x02 | keyIdLength | keyId | nonce (24) | ciphertext | tag (16) )
//   plaintext = JSON { e: expiresAt (epoch ms), s: state }
//
// The header (version, key id) is authenticated as additional data, so neither can be swapped.
//
// The nonce's first 12 bytes are a salt, its last 12 the GCM IV, drawn at random for every token. The AES key is
// a subkey: HKDF-Expand (RFC 5869, SHA-256, one block) of the configured key — itself an HKDF output, so a
// uniform pseudorandom key — with info "baton-token-v2" ‖ salt. Why: with random 96-bit IVs under one key, NIST
// SP 800-38D allows 2^32 encryptions, and a fleet checkpointing 20,000 clients every 5 s reaches that in about
// 12 days under a key that lives for months. A sealer draws a new salt every SEALS_PER_SUBKEY tokens, so no
// subkey encrypts more than 2^16 times (an IV collision under one subkey: under 2^-65), whatever the key's
// lifetime. Subkeys are remembered (a few per pod live within a token's TTL), so sealing and opening cost one
// HMAC per 65,536 tokens, not per token. Version 0x01 tokens (the configured key itself, a 12-byte IV) still
// open, so pods of the previous release keep resuming; they are no longer sealed.

import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import { HandoffError, HandoffErrorCodes, optionError } from './errors.js';
import { type DerivedKey, deriveKeys, type HandoffKey } from './keys.js';

export const TOKEN_VERSION = 2;
const LEGACY_VERSION = 1;
const LEGACY_IV_BYTES = 12;
const SALT_BYTES = 12;
const IV_BYTES = 12;
const NONCE_BYTES = SALT_BYTES + IV_BYTES;
const SUBKEY_INFO = Buffer.from('baton-token-v2');
const FIRST_BLOCK = Buffer.from([1]);
/** Tokens one subkey seals before the sealer draws a new salt. */
export const SEALS_PER_SUBKEY = 65_536;
/** Subkeys an opener remembers, by key id and salt; the map starts over when full. */
const REMEMBERED_SUBKEYS = 1024;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface TokenSealerOptions {
  /** Sealing keys; the first seals, all open. */
  keys: HandoffKey[];
  /** How long a token stays valid. Default 60000 (a release hint needs seconds, not hours). */
  ttlMs?: number;
  /** Longest token accepted or produced, in characters. Default 4096 (it travels in a header). */
  maxTokenBytes?: number;
  /** Clock, epoch ms. Default Date.now. */
  now?: () => number;
}

export class TokenSealer {
  readonly ttlMs: number;
  readonly maxTokenBytes: number;
  readonly #keys: DerivedKey[];
  readonly #byId: Map<string, DerivedKey>;
  readonly #now: () => number;
  /** The subkey sealing now, its salt, and how many tokens it may still seal. */
  #sealing: { salt: Buffer; key: Buffer; left: number } | undefined;
  readonly #subkeys = new Map<string, Buffer>();
  #lastOpened: { key: DerivedKey; salt: Buffer; subkey: Buffer } | undefined;

  constructor(options: TokenSealerOptions) {
    if (typeof options !== 'object' || options === null)
      throw optionError(TypeError, 'TokenSealer needs an options object with keys.');
    this.#keys = deriveKeys(options.keys);
    this.#byId = new Map(this.#keys.map((key) => [key.id, key]));
    this.ttlMs = positiveInteger('ttlMs', options.ttlMs, 60_000);
    this.maxTokenBytes = positiveInteger('maxTokenBytes', options.maxTokenBytes, 4096);
    if (this.maxTokenBytes < 64) throw optionError(RangeError, 'The "maxTokenBytes" option must be at least 64.');
    this.#now = options.now ?? Date.now;
  }

  /** Seal `state` (anything JSON can encode) into a token valid for ttlMs. */
  seal(state: unknown): string {
    let plaintext: string | undefined;
    try {
      plaintext = JSON.stringify({ e: this.#now() + this.ttlMs, s: state });
    } catch (cause) {
      throw new HandoffError(HandoffErrorCodes.STATE_UNSERIALIZABLE, 'The session state cannot be encoded as JSON.', {
        cause,
      });
    }
    const key = this.#keys[0] as DerivedKey;
    const header = Buffer.allocUnsafe(2 + key.idBytes.length + NONCE_BYTES);
    header[0] = TOKEN_VERSION;
    header[1] = key.idBytes.length;
    key.idBytes.copy(header, 2);
    const nonce = header.subarray(2 + key.idBytes.length);
    if (!this.#sealing || this.#sealing.left === 0) {
      const salt = randomFillSync(Buffer.allocUnsafe(SALT_BYTES));
      this.#sealing = { salt, key: this.#subkey(key, salt), left: SEALS_PER_SUBKEY };
    }
    this.#sealing.left--;
    this.#sealing.salt.copy(nonce);
    randomFillSync(nonce, SALT_BYTES);
    const aad = header.subarray(0, 2 + key.idBytes.length);
    const cipher = createCipheriv('aes-256-gcm', this.#sealing.key, nonce.subarray(SALT_BYTES));
    cipher.setAAD(aad);
    const body = cipher.update(plaintext, 'utf8');
    const final = cipher.final();
    const token = Buffer.concat([header, body, final, cipher.getAuthTag()]).toString('base64url');
    if (token.length > this.maxTokenBytes) {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_TOO_LARGE,
        `The sealed state is ${token.length} characters, over maxTokenBytes (${this.maxTokenBytes}). Keep less in the session state, or use a store.`,
      );
    }
    return token;
  }

  /** Open a token; throws a HandoffError whose code says why it cannot be used. Never echoes the token. */
  open(token: unknown): unknown {
    return this.openEnvelope(token).state;
  }

  /** The subkey of `key` for `salt`, derived once and remembered. */
  #subkey(key: DerivedKey, salt: Buffer): Buffer {
    // Most tokens a pod opens were sealed by a handful of pods: the last subkey is usually the one.
    const last = this.#lastOpened;
    if (last && last.key === key && last.salt.equals(salt)) return last.subkey;
    const name = key.id + salt.toString('latin1');
    let subkey = this.#subkeys.get(name);
    if (!subkey) {
      if (this.#subkeys.size >= REMEMBERED_SUBKEYS) this.#subkeys.clear();
      subkey = tokenKey(key.key, salt);
      this.#subkeys.set(name, subkey);
    }
    this.#lastOpened = { key, salt: Buffer.from(salt), subkey };
    return subkey;
  }

  /** The clock the sealer uses, epoch ms. */
  now(): number {
    return this.#now();
  }

  /**
   * Open a token and return its expiry with its state. `expired: 'ignore'` opens an expired token too (for
   * callers that only need to know when it expired); authentication is checked either way.
   */
  openEnvelope(token: unknown, options: { expired?: 'refuse' | 'ignore' } = {}): { expiresAt: number; state: unknown } {
    if (typeof token !== 'string' || token.length === 0) throw malformed('a token must be a non-empty string');
    if (token.length > this.maxTokenBytes) {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_TOO_LARGE,
        `The token is longer than maxTokenBytes (${this.maxTokenBytes}).`,
      );
    }
    if (!BASE64URL.test(token)) throw malformed('a token is base64url');
    const bytes = Buffer.from(token, 'base64url');
    // Node's decoder ignores a dangling character and unused low bits: without this check one token would have
    // many spellings (a trailing character appended still opened it). Only the encoding seal() writes opens.
    if (bytes.toString('base64url') !== token) throw malformed('a token is canonical base64url');
    const version = bytes[0];
    if (version !== TOKEN_VERSION && version !== LEGACY_VERSION) throw malformed(`unsupported version ${version}`);
    const nonceBytes = version === TOKEN_VERSION ? NONCE_BYTES : LEGACY_IV_BYTES;
    if (bytes.length < 2 + 1 + nonceBytes + TAG_BYTES) throw malformed('too short');
    const idLength = bytes[1] as number;
    if (idLength < 1 || idLength > 32 || bytes.length < 2 + idLength + nonceBytes + TAG_BYTES)
      throw malformed('bad key id length');
    const id = bytes.toString('latin1', 2, 2 + idLength);
    const key = this.#byId.get(id);
    if (!key) {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_BAD_KEY,
        `The token was sealed with key "${id.replace(/[^A-Za-z0-9_-]/g, '?')}", which this process does not have.`,
      );
    }
    const aad = bytes.subarray(0, 2 + idLength);
    const nonce = bytes.subarray(2 + idLength, 2 + idLength + nonceBytes);
    const body = bytes.subarray(2 + idLength + nonceBytes, bytes.length - TAG_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    let plaintext: string;
    try {
      const decipher =
        version === TOKEN_VERSION
          ? createDecipheriv(
              'aes-256-gcm',
              this.#subkey(key, nonce.subarray(0, SALT_BYTES)),
              nonce.subarray(SALT_BYTES),
            )
          : createDecipheriv('aes-256-gcm', key.key, nonce);
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_FORGED,
        'The token failed authentication: it was altered or not sealed by this cluster.',
      );
    }
    let payload: { e?: unknown; s?: unknown };
    try {
      payload = JSON.parse(plaintext);
    } catch {
      throw malformed('payload is not JSON');
    }
    if (typeof payload !== 'object' || payload === null || typeof payload.e !== 'number')
      throw malformed('payload has no expiry');
    if (options.expired !== 'ignore' && payload.e <= this.#now())
      throw new HandoffError(HandoffErrorCodes.TOKEN_EXPIRED, 'The token has expired.');
    return { expiresAt: payload.e, state: payload.s };
  }
}

/**
 * A subkey: HKDF-Expand(PRK = the configured key, info = "baton-token-v2" ‖ salt, L = 32), which for one block
 * is HMAC-SHA256(PRK, info ‖ 0x01).
 */
function tokenKey(key: Buffer, salt: Buffer): Buffer {
  return createHmac('sha256', key).update(SUBKEY_INFO).update(salt).update(FIRST_BLOCK).digest();
}

function malformed(why: string): HandoffError {
  return new HandoffError(HandoffErrorCodes.TOKEN_MALFORMED, `Not a Baton session token (${why}).`);
}

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw optionError(TypeError, `The "${name}" option must be an integer; received ${typeof value}.`);
  if (value <= 0) throw optionError(RangeError, `The "${name}" option must be greater than 0; received ${value}.`);
  return value;
}
