// @ts-check
// BATON_HANDOFF_STORE_URL (+ _CLUSTER, _CA_FILE): a node-redis client or cluster client (loaded only when asked
// for) behind @baton/handoff's RedisStore — one Redis, Memorystore's cluster mode, TLS with its server CA. The
// gateway starts even while Redis is down: sessions then start fresh (BATON_ERR_TOKEN_STORE_UNAVAILABLE) until
// the client gets through. Commands fail at once while disconnected (no offline queue), and the store bounds
// every command (250 ms), so an upgrade never waits on Redis longer than that.

import { readFileSync } from 'node:fs';

/**
 * @param {{ handoffStoreUrl: string, handoffStoreCluster: boolean, handoffStoreCaFile?: string | undefined }} drain
 * @param {import('@baton/drain-core').Logger} logger
 */
export async function redisStore(drain, logger) {
  const { createClient, createCluster } = await import('redis');
  const { RedisStore } = await import('@baton/handoff');
  const url = new URL(drain.handoffStoreUrl);
  const reconnectStrategy = (/** @type {number} */ retries) => Math.min(100 * 2 ** retries, 2_000);
  const socket = {
    reconnectStrategy,
    ...(url.protocol === 'rediss:' ? { tls: /** @type {const} */ (true) } : {}),
    ...(drain.handoffStoreCaFile ? { ca: readCa(drain.handoffStoreCaFile) } : {}),
  };
  /** @type {any} */
  const client = drain.handoffStoreCluster
    ? createCluster({
        rootNodes: [{ url: drain.handoffStoreUrl }],
        // The nodes the cluster names are reached with the root's credentials and TLS settings.
        defaults: {
          disableOfflineQueue: true,
          socket,
          ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
          ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        },
      })
    : createClient({ url: drain.handoffStoreUrl, disableOfflineQueue: true, socket });
  let down = false;
  const unavailable = (/** @type {{ code?: string }} */ error) => {
    if (down) return;
    down = true;
    // Logged once per outage, by code only (the URL may carry a password).
    logger.warn(
      { code: error?.code ?? 'unknown' },
      'handoff store (Redis) unavailable; sessions start fresh until it returns',
    );
  };
  const available = () => {
    if (down) logger.info({}, 'handoff store (Redis) available again');
    down = false;
  };
  client.on('error', unavailable);
  client.on(drain.handoffStoreCluster ? 'connect' : 'ready', available);
  connect(client, reconnectStrategy, unavailable);
  return new RedisStore({ client });
}

/**
 * A single client reconnects by itself once connect() was called; a cluster client whose first connect fails
 * (no root node reachable) stays closed, so it is tried again with the same back-off.
 * @param {any} client
 * @param {(retries: number) => number} delay
 * @param {(error: { code?: string }) => void} unavailable
 */
function connect(client, delay, unavailable, retries = 0) {
  client.connect().catch((/** @type {{ code?: string }} */ error) => {
    unavailable(error);
    if (client.isOpen) return;
    setTimeout(() => connect(client, delay, unavailable, retries + 1), delay(retries)).unref();
  });
}

/** @param {string} file */
function readCa(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const coded = new RangeError(
      `BATON_HANDOFF_STORE_CA_FILE cannot be read (${/** @type {{ code?: string }} */ (error).code ?? 'error'}); mount the store's CA certificate there.`,
    );
    Object.defineProperty(coded, 'code', { value: 'BATON_ERR_INVALID_ENV', enumerable: true });
    throw coded;
  }
}
