// @ts-check
// Reads the gateway's environment: the BATON_* drain contract through drain-core's own parser
// (drainOptionsFromEnv, the same one baton-relay uses), plus the example's own HOST, PORT, APP_VERSION,
// POD_NAME and TICK_MS. Times are in seconds (fractions allowed, so tests and the lab can compress a release
// into seconds); a bad value stops start-up with a coded message naming the variable.

import { hostname } from 'node:os';
import { drainOptionsFromEnv, drainOptionsOf } from '@baton/drain-core';
import { Handoff } from '@baton/handoff';
import { redisStore } from './session-store.js';

/**
 * @param {NodeJS.ProcessEnv} env
 */
export function readConfig(env) {
  return {
    host: env.HOST ?? '127.0.0.1',
    port: port(env, 'PORT', 8080),
    appVersion: env.APP_VERSION ?? 'dev',
    // In a pod the hostname is the pod's name; POD_NAME (the Downward API) says so explicitly.
    podName: env.POD_NAME ?? hostname(),
    tickMs: milliseconds(env, 'TICK_MS', 1000),
    drain: drainOptionsFromEnv(env),
  };
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 */
function port(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`${name} must be a port number between 0 and 65535; got ${JSON.stringify(raw)}.`);
  }
  return value;
}

/**
 * A variable given in milliseconds (TICK_MS).
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 */
function milliseconds(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a number of milliseconds > 0; got ${JSON.stringify(raw)}.`);
  }
  return value;
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
  const { drain } = config;
  const store =
    drain.handoffKeys && drain.handoffStoreUrl
      ? await redisStore({ ...drain, handoffStoreUrl: drain.handoffStoreUrl }, logger)
      : undefined;
  const handoff = drain.handoffKeys ? handoffFromEnv(drain.handoffKeys, store) : undefined;
  // Loaded only when asked for: the Kubernetes client costs a few hundred ms of start-up.
  const rolloutHold =
    drain.rolloutHold === 'kubernetes'
      ? (await import('@baton/kubernetes')).kubernetesRolloutHold(
          drain.kubernetesTimeoutMs === undefined ? {} : { requestTimeoutMs: drain.kubernetesTimeoutMs },
        )
      : undefined;
  return {
    ...(rolloutHold ? { rolloutHold } : {}),
    // The examples name their pod and version on every upgrade (Baton-Pod, Baton-Version) for @baton/probe,
    // unless BATON_IDENTITY_POD / BATON_IDENTITY_VERSION say otherwise.
    identity: { pod: config.podName, version: config.appVersion },
    ...drainOptionsOf(drain),
    logger,
    // Baton clients get a reconnect hint carrying their session (id, counter), sealed; the new pod resumes it.
    hintProtocol: handoff
      ? {
          handoff,
          snapshot: (socket) => sessions.snapshot(socket),
          ...(drain.checkpointIntervalMs > 0 ? { checkpointIntervalMs: drain.checkpointIntervalMs } : {}),
        }
      : true,
  };
}
