// Store mode: the state stays server-side (in a store every pod can reach) and the token only names it.
// One live token per session: each seal of a session writes a new generation over the last, so only the newest
// token opens (an older one, stolen or not, is superseded); opening takes the generation away (single use); and
// an upgrade refused after its token opened (admission control, the app's verifyClient, a dropped handshake)
// puts it back, so the client's retry resumes instead of finding its session spent.

/** What take() found. */
export type TakeResult =
  | { readonly found: 'state'; readonly state: unknown }
  | { readonly found: 'superseded' }
  | { readonly found: 'nothing' };

export interface SessionStore {
  /** Keep `state` as generation `generation` of session `id` for ttlMs, replacing whatever the session had. */
  set(id: string, generation: number, state: unknown, ttlMs: number): void | Promise<void>;
  /**
   * Atomically: when the session's current generation is `generation`, delete the session and return its
   * state; when it holds another generation, leave it and say `superseded`; else `nothing`.
   */
  take(id: string, generation: number): TakeResult | Promise<TakeResult>;
  /**
   * Put back a generation take() returned, for ttlMs, unless the session holds something again (a newer
   * generation written meanwhile stays, and the older one stays dead).
   */
  restore(id: string, generation: number, state: unknown, ttlMs: number): void | Promise<void>;
}

interface Entry {
  generation: number;
  state: unknown;
  expiresAt: number;
}

/**
 * An in-process store, for tests and single-process use. It cannot hand a session to another pod; a real
 * deployment uses RedisStore or implements SessionStore on a store all pods share.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  set(id: string, generation: number, state: unknown, ttlMs: number): void {
    this.#sweep();
    // Delete first: the Map then keeps about expiry order (entries share one TTL; a restored one has less left
    // and may outlive its expiry until the entries before it go — take() checks expiry anyway).
    this.#entries.delete(id);
    this.#entries.set(id, { generation, state, expiresAt: this.#now() + ttlMs });
  }

  take(id: string, generation: number): TakeResult {
    const entry = this.#entries.get(id);
    if (!entry || entry.expiresAt <= this.#now()) {
      this.#entries.delete(id);
      return { found: 'nothing' };
    }
    if (entry.generation !== generation) return { found: 'superseded' };
    this.#entries.delete(id);
    return { found: 'state', state: entry.state };
  }

  restore(id: string, generation: number, state: unknown, ttlMs: number): void {
    const entry = this.#entries.get(id);
    if (entry && entry.expiresAt > this.#now()) return;
    this.set(id, generation, state, ttlMs);
  }

  /** Drop expired entries, oldest first. */
  #sweep(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(id);
    }
  }
}
