// The BATON_* environment contract: the one parser of the variables a Baton process (the example gateways,
// baton-relay, a team's own gateway) reads for its drain, and the one writer (the lab and the tests start
// processes with it). Each variable is a row of one table: its name, its kind and what it sets. A bad value
// is refused with BATON_ERR_INVALID_ENV and a message that names the variable and what it must be; a secret's
// value is never quoted.

import { codedError, ErrorCodes } from './errors.js';
import type { DrainOptions } from './options.js';
import { rebalanceOption } from './rebalance-options.js';

/** What a Baton process reads from its environment for its drain. Times in ms. */
export interface DrainEnvironment {
  gracePeriodMs: number;
  propagationDelayMs: number;
  /** Unset: derived from the grace period (drain-core's budget rule). */
  drainWindowMs: number | undefined;
  closeTimeoutMs: number;
  safetyMarginMs: number;
  /** BATON_MIN_WINDOW_SHARE: the rollout hold's minimum window share; unset: drain-core's default. */
  minWindowShare: number | undefined;
  /** BATON_MAX_ACCEPTS_PER_SECOND (+ BATON_ACCEPT_BURST): admission control, off when unset. */
  admission: { maxAcceptsPerSecond: number; burst?: number } | undefined;
  /** ADMIN_PORT, ADMIN_HOST (unset: drain-core's dual-stack default), BATON_ADMIN_TOKEN. */
  admin: { port: number; host?: string; token?: string };
  /** BATON_ROLLOUT_HOLD=kubernetes: the rollout-aware hold of @baton/kubernetes; unset or "off": none. */
  rolloutHold: 'kubernetes' | undefined;
  /** BATON_KUBERNETES_TIMEOUT_SECONDS: the hold's API request timeout; unset: the kit's default. */
  kubernetesTimeoutMs: number | undefined;
  /** BATON_HANDOFF_KEYS="k2=<secret>,k1=<older>": the first seals resume tokens, all open them. */
  handoffKeys: { id: string; secret: string }[] | undefined;
  /** BATON_HANDOFF_STORE_URL: a Redis URL (redis:// or rediss:// for TLS) for the handoff's store mode. */
  handoffStoreUrl: string | undefined;
  /** BATON_HANDOFF_STORE_CLUSTER=true: the URL is one node of a Redis Cluster (Memorystore cluster mode). */
  handoffStoreCluster: boolean;
  /** BATON_HANDOFF_STORE_CA_FILE: a PEM file of the CA that signs the store's TLS certificate (rediss:// only). */
  handoffStoreCaFile: string | undefined;
  /** BATON_CHECKPOINT_SECONDS: how often a Baton client gets a fresh resume token (0: never). */
  checkpointIntervalMs: number;
  /** BATON_IDENTITY_POD, BATON_IDENTITY_VERSION: the identity headers (Baton-Pod, Baton-Version); off when both unset. */
  identity: { pod?: string; version?: string } | undefined;
  /**
   * BATON_REBALANCE_SECONDS (the horizon; unset or 0: off) and BATON_REBALANCE_PEERS (comma-separated
   * `http://host:port` admin URLs or `dns:NAME:PORT`), BATON_REBALANCE_VERSION (this pod's release; default
   * BATON_IDENTITY_VERSION): rebalancing after a scale-out.
   */
  rebalance: { horizonMs: number; peers: string[]; version?: string } | undefined;
}

/** The defaults a process may change (the relay's admin port is 9091, a gateway's 9090). */
export interface DrainEnvironmentDefaults {
  adminPort?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULTS = {
  gracePeriodSeconds: 30,
  propagationSeconds: 15,
  closeTimeoutSeconds: 5,
  safetyMarginSeconds: 2,
  checkpointSeconds: 5,
  adminPort: 9090,
} as const;

/** Every variable of the contract, for docs, `--help` texts and tests. */
export const DRAIN_ENV_VARIABLES = [
  'BATON_GRACE_PERIOD_SECONDS',
  'BATON_PROPAGATION_SECONDS',
  'BATON_DRAIN_WINDOW_SECONDS',
  'BATON_CLOSE_TIMEOUT_SECONDS',
  'BATON_SAFETY_MARGIN_SECONDS',
  'BATON_MIN_WINDOW_SHARE',
  'BATON_MAX_ACCEPTS_PER_SECOND',
  'BATON_ACCEPT_BURST',
  'ADMIN_PORT',
  'ADMIN_HOST',
  'BATON_ADMIN_TOKEN',
  'BATON_ROLLOUT_HOLD',
  'BATON_KUBERNETES_TIMEOUT_SECONDS',
  'BATON_HANDOFF_KEYS',
  'BATON_HANDOFF_STORE_URL',
  'BATON_HANDOFF_STORE_CLUSTER',
  'BATON_HANDOFF_STORE_CA_FILE',
  'BATON_CHECKPOINT_SECONDS',
  'BATON_IDENTITY_POD',
  'BATON_IDENTITY_VERSION',
  'BATON_REBALANCE_SECONDS',
  'BATON_REBALANCE_PEERS',
  'BATON_REBALANCE_VERSION',
] as const;

export type DrainEnvVariable = (typeof DRAIN_ENV_VARIABLES)[number];

function invalid(name: DrainEnvVariable, must: string, raw: string | undefined, secret = false): Error {
  const got = secret ? '' : `; got ${JSON.stringify(raw)}`;
  return codedError(RangeError, ErrorCodes.INVALID_ENV, `${name} must be ${must}${got}.`);
}

/** The value of `name`, or undefined when unset or empty (an empty variable is an unset one). */
function raw(env: Env, name: DrainEnvVariable): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function number(env: Env, name: DrainEnvVariable, must: string, valid: (n: number) => boolean): number | undefined {
  const text = raw(env, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || !valid(value)) throw invalid(name, must, text);
  return value;
}

const NON_NEGATIVE = 'a number of seconds ≥ 0 (fractions allowed)';

function seconds(env: Env, name: DrainEnvVariable): number | undefined {
  const value = number(env, name, NON_NEGATIVE, (n) => n >= 0);
  return value === undefined ? undefined : value * 1000;
}

function positiveSeconds(env: Env, name: DrainEnvVariable): number | undefined {
  const value = number(env, name, 'a number of seconds > 0', (n) => n > 0);
  return value === undefined ? undefined : value * 1000;
}

function port(env: Env, name: DrainEnvVariable): number | undefined {
  return number(env, name, 'a port number from 0 to 65535', (n) => Number.isInteger(n) && n >= 0 && n <= 65535);
}

function rolloutHold(env: Env): 'kubernetes' | undefined {
  const text = raw(env, 'BATON_ROLLOUT_HOLD');
  if (text === undefined || text === 'off') return undefined;
  if (text === 'kubernetes') return text;
  throw invalid('BATON_ROLLOUT_HOLD', '"kubernetes" or "off"', text);
}

function handoffKeys(env: Env): { id: string; secret: string }[] | undefined {
  const text = raw(env, 'BATON_HANDOFF_KEYS');
  if (text === undefined) return undefined;
  const ids = new Set<string>();
  return text.split(',').map((entry, index) => {
    const at = entry.indexOf('=');
    const id = entry.slice(0, at).trim();
    const secret = entry.slice(at + 1).trim();
    // The secret is never quoted: only the entry's position and what is wrong with it.
    if (at <= 0 || id === '' || secret === '')
      throw invalid('BATON_HANDOFF_KEYS', `a list of id=secret entries (entry ${index + 1} is not)`, text, true);
    if (ids.has(id)) throw invalid('BATON_HANDOFF_KEYS', `a list of distinct key ids ("${id}" repeats)`, text, true);
    ids.add(id);
    return { id, secret };
  });
}

/**
 * Read the BATON_* drain contract from `env` (default `process.env`). Throws a RangeError with code
 * BATON_ERR_INVALID_ENV naming the first invalid variable. Unset and empty variables take their defaults.
 * The budget is not checked here: DrainController (or resolveDrainBudget) refuses one that cannot fit.
 */
export function drainOptionsFromEnv(env: Env = process.env, defaults: DrainEnvironmentDefaults = {}): DrainEnvironment {
  const maxAcceptsPerSecond = number(env, 'BATON_MAX_ACCEPTS_PER_SECOND', 'a number > 0', (n) => n > 0);
  const burst = number(env, 'BATON_ACCEPT_BURST', 'a number ≥ 1', (n) => n >= 1);
  if (burst !== undefined && maxAcceptsPerSecond === undefined)
    throw invalid('BATON_ACCEPT_BURST', 'set only with BATON_MAX_ACCEPTS_PER_SECOND', String(burst));
  const host = raw(env, 'ADMIN_HOST');
  const token = raw(env, 'BATON_ADMIN_TOKEN');
  return {
    gracePeriodMs: seconds(env, 'BATON_GRACE_PERIOD_SECONDS') ?? DEFAULTS.gracePeriodSeconds * 1000,
    propagationDelayMs: seconds(env, 'BATON_PROPAGATION_SECONDS') ?? DEFAULTS.propagationSeconds * 1000,
    drainWindowMs: seconds(env, 'BATON_DRAIN_WINDOW_SECONDS'),
    closeTimeoutMs: seconds(env, 'BATON_CLOSE_TIMEOUT_SECONDS') ?? DEFAULTS.closeTimeoutSeconds * 1000,
    safetyMarginMs: seconds(env, 'BATON_SAFETY_MARGIN_SECONDS') ?? DEFAULTS.safetyMarginSeconds * 1000,
    minWindowShare: number(env, 'BATON_MIN_WINDOW_SHARE', 'a number > 0 and ≤ 1', (n) => n > 0 && n <= 1),
    admission:
      maxAcceptsPerSecond === undefined
        ? undefined
        : { maxAcceptsPerSecond, ...(burst === undefined ? {} : { burst }) },
    admin: {
      port: port(env, 'ADMIN_PORT') ?? defaults.adminPort ?? DEFAULTS.adminPort,
      ...(host === undefined ? {} : { host }),
      ...(token === undefined ? {} : { token }),
    },
    rolloutHold: rolloutHold(env),
    kubernetesTimeoutMs: positiveSeconds(env, 'BATON_KUBERNETES_TIMEOUT_SECONDS'),
    handoffKeys: handoffKeys(env),
    ...handoffStore(env),
    checkpointIntervalMs: seconds(env, 'BATON_CHECKPOINT_SECONDS') ?? DEFAULTS.checkpointSeconds * 1000,
    identity: identity(env),
    rebalance: rebalance(env),
  };
}

function rebalance(env: Env): DrainEnvironment['rebalance'] {
  const horizonMs = seconds(env, 'BATON_REBALANCE_SECONDS');
  const text = raw(env, 'BATON_REBALANCE_PEERS');
  const version = headerValue(env, 'BATON_REBALANCE_VERSION');
  if (!horizonMs) {
    if (text !== undefined) throw invalid('BATON_REBALANCE_PEERS', 'set only with BATON_REBALANCE_SECONDS', text);
    if (version !== undefined)
      throw invalid('BATON_REBALANCE_VERSION', 'set only with BATON_REBALANCE_SECONDS', version);
    return undefined;
  }
  if (horizonMs < 1000) throw invalid('BATON_REBALANCE_SECONDS', 'at least 1 (or 0 for off)', String(horizonMs / 1000));
  if (text === undefined) {
    throw invalid(
      'BATON_REBALANCE_PEERS',
      'set with BATON_REBALANCE_SECONDS: every pod\'s admin server (its ADMIN_HOST:ADMIN_PORT), e.g. "dns:gateway-peers:9090" (a headless Service) or "http://10.0.0.7:9090,http://10.0.0.8:9090"; a pod that does not answer is not counted',
      text,
    );
  }
  const peers = text.split(',').map((entry) => entry.trim());
  try {
    rebalanceOption({ horizonMs, peers }, true);
  } catch (error) {
    throw invalid(
      'BATON_REBALANCE_PEERS',
      `a list of http://host:port or dns:NAME:PORT (${(error as Error).message})`,
      text,
    );
  }
  return { horizonMs, peers, ...(version === undefined ? {} : { version }) };
}

function handoffStore(
  env: Env,
): Pick<DrainEnvironment, 'handoffStoreUrl' | 'handoffStoreCluster' | 'handoffStoreCaFile'> {
  const url = raw(env, 'BATON_HANDOFF_STORE_URL');
  const clusterText = raw(env, 'BATON_HANDOFF_STORE_CLUSTER');
  const caFile = raw(env, 'BATON_HANDOFF_STORE_CA_FILE');
  if (clusterText !== undefined && clusterText !== 'true' && clusterText !== 'false')
    throw invalid('BATON_HANDOFF_STORE_CLUSTER', '"true" or "false"', clusterText);
  let protocol: string | undefined;
  if (url !== undefined) {
    try {
      protocol = new URL(url).protocol;
    } catch {
      protocol = undefined;
    }
    // Never quoted: the URL may carry the store's password.
    if (protocol !== 'redis:' && protocol !== 'rediss:')
      throw invalid('BATON_HANDOFF_STORE_URL', 'a redis:// or rediss:// (TLS) URL', url, true);
  }
  if ((clusterText !== undefined || caFile !== undefined) && url === undefined) {
    const name = caFile === undefined ? 'BATON_HANDOFF_STORE_CLUSTER' : 'BATON_HANDOFF_STORE_CA_FILE';
    throw invalid(name, 'set only with BATON_HANDOFF_STORE_URL', caFile ?? clusterText);
  }
  if (caFile !== undefined && protocol !== 'rediss:')
    throw invalid('BATON_HANDOFF_STORE_CA_FILE', 'set only with a rediss:// (TLS) BATON_HANDOFF_STORE_URL', caFile);
  return { handoffStoreUrl: url, handoffStoreCluster: clusterText === 'true', handoffStoreCaFile: caFile };
}

function identity(env: Env): DrainEnvironment['identity'] {
  const pod = headerValue(env, 'BATON_IDENTITY_POD');
  const version = headerValue(env, 'BATON_IDENTITY_VERSION');
  if (pod === undefined && version === undefined) return undefined;
  return { ...(pod === undefined ? {} : { pod }), ...(version === undefined ? {} : { version }) };
}

function headerValue(env: Env, name: DrainEnvVariable): string | undefined {
  const text = raw(env, name);
  if (text !== undefined && !/^[\x21-\x7e]{1,253}$/.test(text))
    throw invalid(name, '1 to 253 visible ASCII characters (it is sent as a header value)', text);
  return text;
}

/**
 * The DrainOptions the environment sets by itself: the budget, the admin server, the hold's minimum window
 * share, admission control and the identity headers. The rollout hold, the handoff (keys, store, checkpoints)
 * and the logger come from other packages or the app, so the process adds those.
 */
export function drainOptionsOf(environment: DrainEnvironment): DrainOptions {
  return {
    gracePeriodMs: environment.gracePeriodMs,
    propagationDelayMs: environment.propagationDelayMs,
    drainWindowMs: environment.drainWindowMs,
    closeTimeoutMs: environment.closeTimeoutMs,
    safetyMarginMs: environment.safetyMarginMs,
    admin: environment.admin,
    ...(environment.minWindowShare === undefined ? {} : { minWindowShare: environment.minWindowShare }),
    ...(environment.admission === undefined ? {} : { admission: environment.admission }),
    ...(environment.identity === undefined ? {} : { identity: environment.identity }),
    ...(environment.rebalance === undefined ? {} : { rebalance: environment.rebalance }),
  };
}

/** What drainEnvFrom() writes: the contract's values, times in ms. */
export type DrainEnvironmentInput = Partial<Omit<DrainEnvironment, 'admin'>> & {
  admin?: Partial<DrainEnvironment['admin']>;
};

/**
 * The environment that makes drainOptionsFromEnv() read `values` back (what a launcher, the lab or a test
 * passes to a process it starts). Only the values given are written.
 */
export function drainEnvFrom(values: DrainEnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {};
  const secondsOf = (ms: number) => String(ms / 1000);
  const put = (name: DrainEnvVariable, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  const time = (name: DrainEnvVariable, ms: number | undefined) =>
    put(name, ms === undefined ? undefined : secondsOf(ms));
  time('BATON_GRACE_PERIOD_SECONDS', values.gracePeriodMs);
  time('BATON_PROPAGATION_SECONDS', values.propagationDelayMs);
  time('BATON_DRAIN_WINDOW_SECONDS', values.drainWindowMs);
  time('BATON_CLOSE_TIMEOUT_SECONDS', values.closeTimeoutMs);
  time('BATON_SAFETY_MARGIN_SECONDS', values.safetyMarginMs);
  put('BATON_MIN_WINDOW_SHARE', values.minWindowShare?.toString());
  put('BATON_MAX_ACCEPTS_PER_SECOND', values.admission?.maxAcceptsPerSecond.toString());
  put('BATON_ACCEPT_BURST', values.admission?.burst?.toString());
  put('ADMIN_PORT', values.admin?.port?.toString());
  put('ADMIN_HOST', values.admin?.host);
  put('BATON_ADMIN_TOKEN', values.admin?.token);
  put('BATON_ROLLOUT_HOLD', values.rolloutHold);
  time('BATON_KUBERNETES_TIMEOUT_SECONDS', values.kubernetesTimeoutMs);
  put('BATON_HANDOFF_KEYS', values.handoffKeys?.map(({ id, secret }) => `${id}=${secret}`).join(','));
  put('BATON_HANDOFF_STORE_URL', values.handoffStoreUrl);
  put('BATON_HANDOFF_STORE_CLUSTER', values.handoffStoreCluster ? 'true' : undefined);
  put('BATON_HANDOFF_STORE_CA_FILE', values.handoffStoreCaFile);
  time('BATON_CHECKPOINT_SECONDS', values.checkpointIntervalMs);
  put('BATON_IDENTITY_POD', values.identity?.pod);
  put('BATON_IDENTITY_VERSION', values.identity?.version);
  time('BATON_REBALANCE_SECONDS', values.rebalance?.horizonMs);
  put('BATON_REBALANCE_PEERS', values.rebalance?.peers.join(','));
  put('BATON_REBALANCE_VERSION', values.rebalance?.version);
  return env;
}
