// Stateless session tokens: the state itself, JSON-encoded, encrypted and authenticated with AES-256-GCM.
//
//   token = base64url( version 0x01 | keyIdLength | keyId | iv (12) | ciphertext | tag (16) )
//   plaintext = JSON { e: expiresAt (epoch ms), s: state }
//
// The header (version, key id) is authenticated as additional data, so neither can be swapped.

import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { HandoffError, HandoffErrorCodes, optionError } from './errors.js';
import { type DerivedKey, deriveKeys, type HandoffKey } from './keys.js';

export const TOKEN_VERSION = 1;
const IV_BYTES = 12;
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
    const header = Buffer.allocUnsafe(2 + key.idBytes.length + IV_BYTES);
    header[0] = TOKEN_VERSION;
    header[1] = key.idBytes.length;
    key.idBytes.copy(header, 2);
    const iv = header.subarray(2 + key.idBytes.length);
    randomFillSync(iv);
    const aad = header.subarray(0, 2 + key.idBytes.length);
    const cipher = createCipheriv('aes-256-gcm', key.key, iv);
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
    if (bytes.length < 2 + 1 + IV_BYTES + TAG_BYTES) throw malformed('too short');
    if (bytes[0] !== TOKEN_VERSION) throw malformed(`unsupported version ${bytes[0]}`);
    const idLength = bytes[1] as number;
    if (idLength < 1 || idLength > 32 || bytes.length < 2 + idLength + IV_BYTES + TAG_BYTES)
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
    const iv = bytes.subarray(2 + idLength, 2 + idLength + IV_BYTES);
    const body = bytes.subarray(2 + idLength + IV_BYTES, bytes.length - TAG_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    let plaintext: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
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
