// @ts-check
// Reads the gateway's environment. Times are in seconds (fractions allowed, so tests and the lab can
// compress a release into seconds); a bad value stops start-up with a message naming the variable.

import { Handoff } from '@baton/handoff';

/**
 * @param {NodeJS.ProcessEnv} env
 */
export function readConfig(env) {
  return {
    host: env.HOST ?? '127.0.0.1',
    port: integer(env, 'PORT', 8080),
    // Unset: drain-core's dual-stack default ('::', or '0.0.0.0' without IPv6), reachable on the pod IP for
    // the kubelet's probes. Starting a drain still needs loopback (baton-drain) or BATON_ADMIN_TOKEN.
    adminHost: env.ADMIN_HOST === '' ? undefined : env.ADMIN_HOST,
    adminToken: env.BATON_ADMIN_TOKEN === '' ? undefined : env.BATON_ADMIN_TOKEN,
    adminPort: integer(env, 'ADMIN_PORT', 9090),
    appVersion: env.APP_VERSION ?? 'dev',
    tickMs: milliseconds(env, 'TICK_MS', 1000),
    gracePeriodMs: seconds(env, 'BATON_GRACE_PERIOD_SECONDS', 30),
    propagationDelayMs: seconds(env, 'BATON_PROPAGATION_SECONDS', 15),
    drainWindowMs: optionalSeconds(env, 'BATON_DRAIN_WINDOW_SECONDS'),
    closeTimeoutMs: seconds(env, 'BATON_CLOSE_TIMEOUT_SECONDS', 5),
    safetyMarginMs: seconds(env, 'BATON_SAFETY_MARGIN_SECONDS', 2),
    handoffKeys: handoffKeys(env),
    rolloutHold: rolloutHoldSource(env),
    minWindowShare: share(env, 'BATON_MIN_WINDOW_SHARE'),
    kubernetesTimeoutMs: optionalSeconds(env, 'BATON_KUBERNETES_TIMEOUT_SECONDS'),
    // Admission control, off unless BATON_MAX_ACCEPTS_PER_SECOND is set (drain-core validates the numbers).
    maxAcceptsPerSecond: optionalNumber(env, 'BATON_MAX_ACCEPTS_PER_SECOND'),
    acceptBurst: optionalNumber(env, 'BATON_ACCEPT_BURST'),
    // With handoff keys, every Baton client gets a fresh resume token this often (0: off), so it resumes after
    // its pod dies without a hint.
    checkpointIntervalMs: seconds(env, 'BATON_CHECKPOINT_SECONDS', 5),
    // Store mode on Redis (redis://…): sessions stay in Redis, tokens only name them (single use).
    handoffStoreUrl: env.BATON_HANDOFF_STORE_URL === '' ? undefined : env.BATON_HANDOFF_STORE_URL,
  };
}

/**
 * BATON_ROLLOUT_HOLD=kubernetes: during a rollout, start closing only once the pods of this pod's own
 * ReplicaSet are all terminating (@baton/kubernetes; needs POD_NAME, POD_NAMESPACE and RBAC to get/list/watch
 * pods). Unset or "off": no hold.
 * @param {NodeJS.ProcessEnv} env
 * @returns {'kubernetes' | undefined}
 */
function rolloutHoldSource(env) {
  const raw = env.BATON_ROLLOUT_HOLD;
  if (raw === undefined || raw === '' || raw === 'off') return undefined;
  if (raw === 'kubernetes') return raw;
  throw new RangeError(`BATON_ROLLOUT_HOLD must be "kubernetes" or "off"; got ${JSON.stringify(raw)}.`);
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 */
function share(env, name) {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw new RangeError(`${name} must be a number greater than 0 and at most 1; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

/**
 * BATON_HANDOFF_KEYS="k2=<secret>,k1=<old secret>": the first key seals resume tokens, all open them. Every
 * pod of a release (old and new version) needs the same keys. Unset: pods hint without resume tokens.
 * @param {NodeJS.ProcessEnv} env
 */
function handoffKeys(env) {
  const raw = env.BATON_HANDOFF_KEYS;
  if (raw === undefined || raw === '') return undefined;
  return raw.split(',').map((entry, index) => {
    const at = entry.indexOf('=');
    if (at <= 0) throw new TypeError(`BATON_HANDOFF_KEYS entry ${index + 1} must look like id=secret.`);
    return { id: entry.slice(0, at).trim(), secret: entry.slice(at + 1).trim() };
  });
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 */
function integer(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`${name} must be a port number between 0 and 65535; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 */
function optionalNumber(env, name) {
  return env[name] === undefined || env[name] === '' ? undefined : nonNegative(env, name, 0);
}

/**
 * A variable given in seconds (BATON_*_SECONDS), as a number of milliseconds.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback in seconds
 */
function seconds(env, name, fallback) {
  return nonNegative(env, name, fallback) * 1000;
}

/**
 * A variable given in milliseconds (TICK_MS), as a number of milliseconds.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 */
function milliseconds(env, name, fallback) {
  return nonNegative(env, name, fallback);
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 */
function nonNegative(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 */
function optionalSeconds(env, name) {
  return env[name] === undefined || env[name] === '' ? undefined : seconds(env, name, 0);
}

/**
 * A Handoff from BATON_HANDOFF_KEYS; a weak or placeholder key stops start-up with a coded error that names
 * the variable (and never the secret).
 * @param {{ id: string, secret: string }[]} keys
 * @param {import('@baton/handoff').SessionStore} [store]
 */
function handoffFromEnv(keys, store) {
  try {
    return new Handoff({ keys, ...(store ? { store } : {}) });
  } catch (error) {
    const { code } = /** @type {{ code?: string }} */ (error);
    const named = new RangeError(`BATON_HANDOFF_KEYS: ${/** @type {Error} */ (error).message}`);
    Object.defineProperty(named, 'code', { value: code, enumerable: true });
    throw named;
  }
}

/**
 * The drain-core options a gateway builds from its configuration (the fastify plugin takes the same).
 * @param {ReturnType<typeof readConfig>} config
 * @param {{ snapshot: (socket: any) => unknown }} sessions
 * @param {import('@baton/drain-core').Logger} logger
 * @returns {Promise<import('@baton/drain-core').DrainOptions>}
 */
export async function drainOptions(config, sessions, logger) {
  const store =
    config.handoffKeys && config.handoffStoreUrl ? await redisStore(config.handoffStoreUrl, logger) : undefined;
  const handoff = config.handoffKeys ? handoffFromEnv(config.handoffKeys, store) : undefined;
  // Loaded only when asked for: the Kubernetes client costs a few hundred ms of start-up.
  const rolloutHold =
    config.rolloutHold === 'kubernetes'
      ? (await import('@baton/kubernetes')).kubernetesRolloutHold(
          config.kubernetesTimeoutMs === undefined ? {} : { requestTimeoutMs: config.kubernetesTimeoutMs },
        )
      : undefined;
  return {
    ...(rolloutHold ? { rolloutHold } : {}),
    ...(config.minWindowShare === undefined ? {} : { minWindowShare: config.minWindowShare }),
    ...(config.maxAcceptsPerSecond === undefined
      ? {}
      : {
          admission: {
            maxAcceptsPerSecond: config.maxAcceptsPerSecond,
            ...(config.acceptBurst === undefined ? {} : { burst: config.acceptBurst }),
          },
        }),
    gracePeriodMs: config.gracePeriodMs,
    propagationDelayMs: config.propagationDelayMs,
    drainWindowMs: config.drainWindowMs,
    closeTimeoutMs: config.closeTimeoutMs,
    safetyMarginMs: config.safetyMarginMs,
    admin: {
      port: config.adminPort,
      ...(config.adminHost === undefined ? {} : { host: config.adminHost }),
      ...(config.adminToken === undefined ? {} : { token: config.adminToken }),
    },
    logger,
    // Baton clients get a reconnect hint carrying their session (id, counter), sealed; the new pod resumes it.
    hintProtocol: handoff
      ? {
          handoff,
          snapshot: (socket) => sessions.snapshot(socket),
          ...(config.checkpointIntervalMs > 0 ? { checkpointIntervalMs: config.checkpointIntervalMs } : {}),
        }
      : true,
  };
}

/**
 * BATON_HANDOFF_STORE_URL: a node-redis client (loaded only when asked for) behind @baton/handoff's RedisStore.
 * The gateway starts even while Redis is down: sessions then start fresh (BATON_ERR_TOKEN_STORE_UNAVAILABLE)
 * until the client reconnects on its own. Commands fail at once while disconnected (no offline queue).
 * @param {string} url
 * @param {import('@baton/drain-core').Logger} logger
 */
async function redisStore(url, logger) {
  const { createClient } = await import('redis');
  const { RedisStore } = await import('@baton/handoff');
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2_000) },
  });
  let down = false;
  // Logged once per outage, by code only (the URL may carry a password).
  client.on('error', (/** @type {{ code?: string }} */ error) => {
    if (down) return;
    down = true;
    logger.warn(
      { code: error.code ?? 'unknown' },
      'handoff store (Redis) unavailable; sessions start fresh until it returns',
    );
  });
  client.on('ready', () => {
    if (down) logger.info({}, 'handoff store (Redis) available again');
    down = false;
  });
  client.connect().catch(() => {});
  return new RedisStore({
    client: /** @type {import('@baton/handoff').RedisCommands} */ (/** @type {unknown} */ (client)),
  });
}
