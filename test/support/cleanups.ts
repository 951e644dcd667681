// Resources a test opened, released after it in reverse order (servers, clients, processes).

import { afterEach } from 'vitest';

export type Cleanup = () => Promise<unknown> | unknown;

/** Call at the top of a test file; push cleanups onto the returned list. */
export function useCleanups(): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}
