// The handoff a gateway uses: seal a session's state into a resume token at hint time, open it on the new
// pod. Stateless by default (the token is the state); with a store, the state stays server-side and the
// token is a sealed, single-use reference to it.

import { randomBytes } from 'node:crypto';
import { HandoffError, HandoffErrorCodes } from './errors.js';
import type { SessionStore } from './session-store.js';
import { TokenSealer, type TokenSealerOptions } from './token-sealer.js';

export interface HandoffOptions extends TokenSealerOptions {
  /** Keep state in this store and put only a reference in the token (single use). Default: none (stateless). */
  store?: SessionStore;
}

export class Handoff {
  readonly sealer: TokenSealer;
  readonly store: SessionStore | undefined;

  constructor(options: HandoffOptions) {
    this.sealer = new TokenSealer(options);
    this.store = options.store;
  }

  async seal(state: unknown): Promise<string> {
    if (!this.store) return this.sealer.seal(state);
    const ref = randomBytes(16).toString('base64url');
    await storeCall(() => this.store?.set(ref, state, this.sealer.ttlMs));
    return this.sealer.seal({ ref });
  }

  async open(token: unknown): Promise<unknown> {
    const opened = this.sealer.open(token);
    if (!this.store) return opened;
    const ref = (opened as { ref?: unknown } | null)?.ref;
    if (typeof ref !== 'string') throw new HandoffError(HandoffErrorCodes.TOKEN_MALFORMED, 'Not a store-mode token.');
    const store = this.store;
    const state = await storeCall(() => store.take(ref));
    if (state === undefined) {
      throw new HandoffError(
        HandoffErrorCodes.TOKEN_REPLAYED,
        'The token was already used, or its session expired from the store.',
      );
    }
    return state;
  }
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
