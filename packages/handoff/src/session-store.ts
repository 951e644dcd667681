// Store mode: the state stays server-side (in a store every pod can reach) and the token only names it.
// Tokens are single-use: take() removes the entry, so a replayed token finds nothing.

export interface SessionStore {
  /** Keep `state` under `id` for ttlMs. */
  set(id: string, state: unknown, ttlMs: number): void | Promise<void>;
  /** Return and delete the state under `id` (atomically: a Redis store would use GETDEL), or undefined. */
  take(id: string): unknown | Promise<unknown>;
}

/**
 * An in-process store, for tests and single-process use. It cannot hand a session to another pod; a real
 * deployment implements SessionStore on Redis (SET PX / GETDEL) or similar.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, { state: unknown; expiresAt: number }>();
  readonly #now: () => number;
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  set(id: string, state: unknown, ttlMs: number): void {
    this.#sweep();
    this.#entries.set(id, { state, expiresAt: this.#now() + ttlMs });
  }

  take(id: string): unknown {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    return entry.expiresAt > this.#now() ? entry.state : undefined;
  }

  /** Drop expired entries, oldest first: the Map keeps insertion order and every entry has the same TTL. */
  #sweep(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(id);
    }
  }
}
