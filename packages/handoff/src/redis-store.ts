// Store mode on Redis: each session is one key under the prefix, holding "<generation>:<state JSON>" with PX
// (the token's TTL). Sealing overwrites it with the next generation; opening runs one Lua script that deletes
// and returns the state only when the generation matches (a superseded token leaves the newest alone); a
// refused upgrade puts it back with SET … NX. One key per command, so it works on Redis Cluster as on one
// server. The store takes the application's own node-redis client (createClient or createCluster, with TLS or
// whatever options the application needs), so this package has no dependency on a Redis library. Every command
// is bounded by timeoutMs: a Redis that is down, slow or failing over never holds an upgrade longer than that;
// the session then starts fresh with BATON_ERR_TOKEN_STORE_UNAVAILABLE, and the next command after Redis
// returns works again.

import { HandoffError, HandoffErrorCodes, optionError } from './errors.js';
import type { SessionStore, TakeResult } from './session-store.js';

/** The two commands of a node-redis client (v4 or later; a cluster client too) the store uses. */
export interface RedisCommands {
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export interface RedisStoreOptions {
  /** A connected node-redis client or cluster client. The application owns it (connect, 'error', quit). */
  client: RedisCommands;
  /** Prefix of every key. Default 'baton:session:'. */
  keyPrefix?: string;
  /** Longest wait for one command, in ms. Default 250: an upgrade waits at most this for a resume. */
  timeoutMs?: number;
}

// Returns the state's JSON when KEYS[1] holds generation ARGV[1] (and deletes it), 0 when it holds another
// generation, nil when it holds nothing. The generation is compared as text, before the first ':'.
const TAKE = `local v = redis.call('GET', KEYS[1])
if not v then return nil end
local sep = string.find(v, ':', 1, true)
if not sep or string.sub(v, 1, sep - 1) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return string.sub(v, sep + 1)`;

// SET NX PX as a script: node-redis spells the NX option differently across versions; EVAL is the same in all.
const RESTORE = `return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')`;

export class RedisStore implements SessionStore {
  readonly #client: RedisCommands;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(options: RedisStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw optionError(TypeError, 'RedisStore needs options: { client, keyPrefix?, timeoutMs? }.');
    }
    const { client, keyPrefix = 'baton:session:', timeoutMs = 250 } = options;
    if (typeof client?.set !== 'function' || typeof client?.eval !== 'function') {
      throw optionError(
        TypeError,
        'RedisStore needs "client": a node-redis client (createClient() or createCluster() from the "redis" package, v4 or later).',
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

  async set(id: string, generation: number, state: unknown, ttlMs: number): Promise<void> {
    await this.#bounded('SET', () =>
      this.#client.set(this.#prefix + id, `${generation}:${JSON.stringify(state)}`, { PX: px(ttlMs) }),
    );
  }

  async take(id: string, generation: number): Promise<TakeResult> {
    const reply = await this.#bounded('EVAL (take)', () =>
      this.#client.eval(TAKE, { keys: [this.#prefix + id], arguments: [String(generation)] }),
    );
    if (reply === null || reply === undefined) return { found: 'nothing' };
    if (reply === 0) return { found: 'superseded' };
    return { found: 'state', state: JSON.parse(String(reply)) };
  }

  async restore(id: string, generation: number, state: unknown, ttlMs: number): Promise<void> {
    await this.#bounded('EVAL (restore)', () =>
      this.#client.eval(RESTORE, {
        keys: [this.#prefix + id],
        arguments: [`${generation}:${JSON.stringify(state)}`, String(px(ttlMs))],
      }),
    );
  }

  async #bounded<T>(command: string, call: () => Promise<T>): Promise<T> {
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
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      // A client that throws instead of rejecting (a closed client) is a failure like any other.
      pending = Promise.reject(error);
    }
    // A late answer (or failure) after the timeout must not become an unhandled rejection.
    pending.catch(() => {});
    try {
      return await Promise.race([pending, timeout]);
    } catch (error) {
      if (error instanceof HandoffError) throw error;
      // The client's error names the cause (connection refused, READONLY, CLUSTERDOWN…); keys and state are
      // never in it.
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

function px(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}
