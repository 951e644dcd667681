// Store mode on Redis: the session state under a random reference, SET with PX (the token's TTL), taken back
// once with GETDEL, so a replayed token finds nothing. The store takes the application's own node-redis client
// (createClient, createCluster or createSentinel, with whatever options the application needs), so this package
// has no dependency on a Redis library. Every command is bounded by timeoutMs: a Redis that is down or slow
// never holds an upgrade longer than that; the session then starts fresh with BATON_ERR_TOKEN_STORE_UNAVAILABLE,
// and the next command after Redis returns works again.

import { HandoffError, HandoffErrorCodes, optionError } from './errors.js';
import type { SessionStore } from './session-store.js';

/** The two commands of a node-redis client (v4 or later) the store uses. */
export interface RedisCommands {
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  getDel(key: string): Promise<string | null | undefined>;
}

export interface RedisStoreOptions {
  /** A connected node-redis client, cluster or sentinel client. The application owns it (connect, 'error', quit). */
  client: RedisCommands;
  /** Prefix of every key. Default 'baton:session:'. */
  keyPrefix?: string;
  /** Longest wait for one command, in ms. Default 250: an upgrade waits at most this for a resume. */
  timeoutMs?: number;
}

export class RedisStore implements SessionStore {
  readonly #client: RedisCommands;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw optionError(TypeError, 'RedisStore needs options: { client, keyPrefix?, timeoutMs? }.');
    }
    const { client, keyPrefix = 'baton:session:', timeoutMs = 250 } = options;
    if (typeof client?.set !== 'function' || typeof client?.getDel !== 'function') {
      throw optionError(
        TypeError,
        'RedisStore needs "client": a node-redis client (createClient(), createCluster() or createSentinel() from the "redis" package).',
      );
    }
    if (typeof keyPrefix !== 'string') throw optionError(TypeError, 'The "keyPrefix" option must be a string.');
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 60_000) {
      throw optionError(
        RangeError,
        `The "timeoutMs" option must be a number of milliseconds in (0, 60000]; received ${String(timeoutMs)}.`,
      );
    }
    this.#client = client;
    this.#prefix = keyPrefix;
    this.#timeoutMs = timeoutMs;
  }

  async set(id: string, state: unknown, ttlMs: number): Promise<void> {
    await this.#bounded(
      'SET',
      this.#client.set(this.#prefix + id, JSON.stringify(state), { PX: Math.max(1, Math.ceil(ttlMs)) }),
    );
  }

  async take(id: string): Promise<unknown> {
    const value = await this.#bounded('GETDEL', this.#client.getDel(this.#prefix + id));
    if (value === null || value === undefined) return undefined;
    return JSON.parse(String(value));
  }

  async #bounded<T>(command: string, pending: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new HandoffError(
              HandoffErrorCodes.TOKEN_STORE_UNAVAILABLE,
              `Redis did not answer ${command} within ${this.#timeoutMs} ms; the session starts fresh.`,
            ),
          ),
        this.#timeoutMs,
      );
    });
    // A late answer (or failure) after the timeout must not become an unhandled rejection.
    pending.catch(() => {});
    try {
      return await Promise.race([pending, timeout]);
    } catch (error) {
      if (error instanceof HandoffError) throw error;
      // The client's error names the cause (connection refused, READONLY…); keys and state are never in it.
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_STORE_UNAVAILABLE,
        `Redis ${command} failed (${error instanceof Error ? error.message : String(error)}); the session starts fresh.`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
