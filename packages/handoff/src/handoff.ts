// The handoff a gateway uses: seal a session's state into a resume token at hint time, open it on the new
// pod. Stateless by default (the token is the state); with a store, the state stays server-side and the
// token is a sealed reference to one generation of it: the newest token of a session is its only live one,
// and it opens once (session-store.ts).

import { randomBytes } from 'node:crypto';
import { HandoffError, HandoffErrorCodes } from './errors.js';
import type { SessionStore } from './session-store.js';
import { TokenSealer, type TokenSealerOptions } from './token-sealer.js';

export interface HandoffOptions extends TokenSealerOptions {
  /** Keep state in this store and put only a reference in the token (one live token per session). Default: none (stateless). */
  store?: SessionStore;
}

/** A session's place in the store: its id there, and the generation its newest token names. */
interface Lineage {
  readonly id: string;
  generation: number;
}

/** What a store-mode token seals. */
interface StoreReference {
  ref: string;
  g: number;
}

export class Handoff {
  readonly sealer: TokenSealer;
  readonly store: SessionStore | undefined;
  // Keyed by the caller's session object (drain-core passes the connection's socket): nothing kept past it.
  readonly #lineages = new WeakMap<object, Lineage>();

  constructor(options: HandoffOptions) {
    this.sealer = new TokenSealer(options);
    this.store = options.store;
  }

  /**
   * Seal `state` into a token. In store mode, pass the session it belongs to (any object that lives as long as
   * the session: drain-core passes the connection's socket): each token sealed for it supersedes the one before,
   * so only the newest opens. Without `session` every token is a session of its own.
   */
  async seal(state: unknown, session?: object): Promise<string> {
    if (!this.store) return this.sealer.seal(state);
    let lineage = session ? this.#lineages.get(session) : undefined;
    if (!lineage) {
      lineage = { id: randomBytes(16).toString('base64url'), generation: 0 };
      if (session) this.#lineages.set(session, lineage);
    }
    const generation = ++lineage.generation;
    const { id } = lineage;
    const store = this.store;
    await storeCall(() => store.set(id, generation, state, this.sealer.ttlMs));
    return this.sealer.seal({ ref: id, g: generation } satisfies StoreReference);
  }

  /**
   * Open a token: its state, or a HandoffError whose code says why not. In store mode this takes the state out
   * of the store; if the upgrade that carried the token is then refused, `restore(token, state)` puts it back.
   */
  async open(token: unknown): Promise<unknown> {
    const opened = this.sealer.open(token);
    if (!this.store) return opened;
    const { id, generation } = reference(opened);
    const store = this.store;
    const taken = await storeCall(() => store.take(id, generation));
    if (taken.found === 'state') return taken.state;
    if (taken.found === 'superseded') {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_SUPERSEDED,
        'A newer token of this session was issued since; only the newest one opens.',
      );
    }
    throw new HandoffError(
      HandoffErrorCodes.TOKEN_REPLAYED,
      'The token was already used, or its session expired from the store.',
    );
  }

  /**
   * Store mode: undo an open() whose upgrade was refused (drain-core calls it when the handshake ends without a
   * connection), so the client's retry can still resume. Nothing happens when the session was given a newer
   * token meanwhile, when the token has expired, or without a store. Never throws for a store failure: the
   * session then starts fresh on the retry, as if the store had lost it.
   */
  async restore(token: string, state: unknown): Promise<void> {
    if (!this.store) return;
    const { expiresAt, state: opened } = this.sealer.openEnvelope(token, { expired: 'ignore' });
    const remaining = expiresAt - this.sealer.now();
    if (remaining <= 0) return;
    const { id, generation } = reference(opened);
    const store = this.store;
    await storeCall(() => store.restore(id, generation, state, remaining)).catch(() => {});
  }
}

function reference(opened: unknown): { id: string; generation: number } {
  const { ref, g } = (opened ?? {}) as Partial<StoreReference>;
  if (typeof ref !== 'string' || typeof g !== 'number' || !Number.isSafeInteger(g) || g < 1) {
    throw new HandoffError(HandoffErrorCodes.TOKEN_MALFORMED, 'Not a store-mode token.');
  }
  return { id: ref, generation: g };
}

/** A store's own failure becomes a coded HandoffError: the caller starts a fresh session and says why. */
async function storeCall<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HandoffError) throw error;
    throw new HandoffError(
      HandoffErrorCodes.TOKEN_STORE_UNAVAILABLE,
      'The session store failed; the session starts fresh.',
      {
        cause: error,
      },
    );
  }
}
