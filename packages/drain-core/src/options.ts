// Every option of a DrainController, its default, and its validation. Invalid options throw at construction
// with a message that says what to change, so a bad value never surfaces as a surprise at SIGKILL time.

import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { type AdminPaths, DEFAULT_ADMIN_PATHS } from './admin-server.js';
import type { AdmissionOptions } from './admission-control.js';
import { type DrainBudget, type DrainBudgetInput, describe, durationOption, resolveDrainBudget } from './budget.js';
import { codedError, ErrorCodes } from './errors.js';
import type { HintProtocolOptions } from './hint-protocol.js';
import { isLogger, type Logger, type ResolvedLogger, resolveLogger } from './logger.js';
import type { RolloutHold } from './rollout-hold.js';
import type { SendHint } from './tracked-connection.js';

export interface AdminOptions {
  /** Port of the admin server. 0 picks a free one (see `adminAddress()`). Required. */
  port: number;
  /**
   * Interface to bind. Default: dual-stack '::' (falling back to '0.0.0.0' where IPv6 is off), because the
   * kubelet probes the pod IP, IPv4 or IPv6. Never expose this port in a Service.
   */
  host?: string;
  /**
   * Bearer token that lets a peer other than loopback start a drain (`Authorization: Bearer <token>`).
   * Default none: only loopback may (the preStop hook runs `baton-drain` inside the container). At least 32
   * characters, random; placeholder-looking values are refused.
   */
  token?: string;
  /** Override endpoint paths. Defaults: /readyz, /livez, /drain, /metrics. */
  paths?: Partial<AdminPaths>;
}

export interface MetricsOptions {
  /** A prom-client Registry to register baton_* metrics into (e.g. the app's). Default: a registry of our own. */
  registry?: unknown;
}

export type ExitAfterDrain = 'on-signal' | 'always' | 'never';

export interface DrainOptions extends DrainBudgetInput {
  /** Most closes (and hints) per second for this pod. Default: no cap; the window alone sets the pace. */
  maxClosesPerSecond?: number;
  /** Share of each connection's slot that is randomised, 0..1. Default 1. */
  jitter?: number;
  /** Reason sent with close code 1012. At most 123 bytes of UTF-8. Default 'server draining'. */
  closeReason?: string;
  /** Retry-After (seconds) on upgrades refused with 503 while closing. Default 1. */
  retryAfterSeconds?: number;
  /** Readiness during a drain of a pod being deleted (SIGTERM, preStop). Default true: docs/kubernetes.md, "Failing readiness on the old pods?" (cilium#17252). */
  readyWhileTerminating?: boolean;
  /** Readiness during a manual drain (admin POST) of a pod that stays. Default false, so the endpoint goes away. */
  readyWhileManualDrain?: boolean;
  /** Signals that start a termination drain once `start()` ran. Default ['SIGTERM']; [] or false for none. */
  signals?: NodeJS.Signals[] | false;
  /**
   * Exit the process (code 0) when a drain of a pod being deleted ended: after a signal arrived (default),
   * after any terminating drain ('always'), or never. A manual drain never ends the process.
   */
  exitAfterDrain?: ExitAfterDrain;
  /**
   * Runs before that exit, e.g. the web framework's own close; bounded by what is left of the grace period
   * (less half the safety margin), then the process exits whatever it still waits for.
   */
  beforeExit?: (report: import('./drain-record.js').DrainReport) => Promise<void> | void;
  /** The admin server, started by `start()`. Default: none. */
  admin?: AdminOptions | false;
  /** baton_* Prometheus metrics (needs prom-client). Default: on when prom-client can be imported. */
  metrics?: MetricsOptions | false;
  /** A pino-compatible logger. Default: silent (NODE_DEBUG=baton prints debug lines). */
  logger?: Logger;
  /**
   * Speak Baton protocol v1 (docs/protocol.md) with clients that offer it: welcome, reconnect hints with a
   * resume token, resume on the new pod. `true` for hints without handoff. Default: off.
   */
  hintProtocol?: boolean | HintProtocolOptions;
  /** Low-level hook (instead of hintProtocol): decides per connection whether it can be hinted. */
  isCapable?: (socket: WebSocket, request: IncomingMessage | undefined) => boolean;
  /** Called at a capable connection's scheduled time instead of close (see SendHint). */
  sendHint?: SendHint;
  /** How long a hinted connection may take to move before it is closed with 1012. Default 5000. */
  hintTimeoutMs?: number;
  /** Uniform random source in [0, 1), for reproducible schedules in tests. Default Math.random. */
  random?: () => number;
  /**
   * Rollout-aware hold: called at the start of a terminating drain; closing waits until the pods released
   * together with this one are all terminating (see RolloutHold; @baton/kubernetes provides one). Default none.
   */
  rolloutHold?: RolloutHold;
  /** The hold never shrinks the drain window below this share of it, 0 < share <= 1. Default 0.5. */
  minWindowShare?: number;
  /**
   * Admission control: at most this many accepted upgrades per second (token bucket), the excess refused with
   * 503 and a jittered Retry-After before the upgrade. Off by default. See admission-control.ts.
   */
  admission?: AdmissionOptions | false;
}

export interface ResolvedDrainOptions {
  readonly budget: DrainBudget;
  readonly maxClosesPerSecond: number;
  readonly jitter: number;
  readonly closeReason: string;
  readonly retryAfterSeconds: number;
  readonly readyWhileTerminating: boolean;
  readonly readyWhileManualDrain: boolean;
  readonly signals: readonly NodeJS.Signals[];
  readonly exitAfterDrain: ExitAfterDrain;
  readonly admin: { port: number; host: string | undefined; token: string | undefined; paths: AdminPaths } | undefined;
  readonly metrics: MetricsOptions | undefined;
  readonly logger: ResolvedLogger;
  readonly isCapable: ((socket: WebSocket, request: IncomingMessage | undefined) => boolean) | undefined;
  readonly sendHint: SendHint | undefined;
  readonly hintProtocol: HintProtocolOptions | undefined;
  readonly hintTimeoutMs: number;
  readonly random: () => number;
  readonly rolloutHold: RolloutHold | undefined;
  readonly beforeExit: DrainOptions['beforeExit'];
  readonly minWindowShare: number;
  readonly admission: Required<AdmissionOptions> | undefined;
}

// Every key of DrainOptions, checked by the compiler both ways: an option added to the interface and not here
// (or listed here and not there) fails the build, so the unknown-option check can never drift.
const KNOWN_OPTION_KEYS = {
  gracePeriodMs: true,
  propagationDelayMs: true,
  drainWindowMs: true,
  closeTimeoutMs: true,
  safetyMarginMs: true,
  maxClosesPerSecond: true,
  jitter: true,
  closeReason: true,
  retryAfterSeconds: true,
  readyWhileTerminating: true,
  readyWhileManualDrain: true,
  signals: true,
  exitAfterDrain: true,
  admin: true,
  metrics: true,
  logger: true,
  isCapable: true,
  sendHint: true,
  hintProtocol: true,
  hintTimeoutMs: true,
  random: true,
  rolloutHold: true,
  minWindowShare: true,
  admission: true,
  beforeExit: true,
} as const satisfies Record<keyof DrainOptions, true>;
const KNOWN_OPTIONS: ReadonlySet<string> = new Set(Object.keys(KNOWN_OPTION_KEYS));
const KNOWN_ADMIN_KEYS = { port: true, host: true, token: true, paths: true } as const satisfies Record<
  keyof AdminOptions,
  true
>;

const EXIT_MODES: readonly ExitAfterDrain[] = ['on-signal', 'always', 'never'];

export function resolveDrainOptions(input: unknown = {}): ResolvedDrainOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid(`The options must be an object; received ${describe(input)}.`);
  }
  const options = input as DrainOptions;
  for (const key of Object.keys(options)) {
    // A typo such as `gracePeriodSeconds` would otherwise silently fall back to a default.
    if (!KNOWN_OPTIONS.has(key)) {
      throw invalid(`Unknown option "${key}". Known options: ${[...KNOWN_OPTIONS].join(', ')}.`);
    }
  }
  const budget = resolveDrainBudget(options);

  const maxClosesPerSecond = positiveNumber('maxClosesPerSecond', options.maxClosesPerSecond, Number.POSITIVE_INFINITY);
  const jitter = numberInRange('jitter', options.jitter, 1, 0, 1);
  const retryAfterSeconds = numberInRange('retryAfterSeconds', options.retryAfterSeconds, 1, 0, 86_400);
  const hintTimeoutMs = durationOption('hintTimeoutMs', options.hintTimeoutMs, 5_000, 1);

  const closeReason = options.closeReason ?? 'server draining';
  if (typeof closeReason !== 'string') {
    throw invalid(`The "closeReason" option must be a string; received ${describe(closeReason)}.`);
  }
  if (Buffer.byteLength(closeReason) > 123) {
    throw range(
      `The "closeReason" option must be at most 123 bytes of UTF-8 (a close frame limit); it is ${Buffer.byteLength(closeReason)}.`,
    );
  }

  const readyWhileTerminating = booleanOption('readyWhileTerminating', options.readyWhileTerminating, true);
  const readyWhileManualDrain = booleanOption('readyWhileManualDrain', options.readyWhileManualDrain, false);

  let signals: NodeJS.Signals[] = ['SIGTERM'];
  if (options.signals === false) signals = [];
  else if (options.signals !== undefined) {
    if (
      !Array.isArray(options.signals) ||
      !options.signals.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s))
    ) {
      throw invalid(
        `The "signals" option must be an array of signal names such as ['SIGTERM'], or false; received ${describe(options.signals)}.`,
      );
    }
    signals = [...new Set(options.signals)];
  }

  const exitAfterDrain = options.exitAfterDrain ?? 'on-signal';
  if (!EXIT_MODES.includes(exitAfterDrain)) {
    throw invalid(
      `The "exitAfterDrain" option must be one of ${EXIT_MODES.map((m) => `'${m}'`).join(', ')}; received ${describe(exitAfterDrain)}.`,
    );
  }

  let admin: ResolvedDrainOptions['admin'];
  if (options.admin !== undefined && options.admin !== false) {
    const a = options.admin as unknown;
    if (typeof a !== 'object' || a === null) {
      throw invalid(`The "admin" option must be an object such as { port: 9090 }, or false; received ${describe(a)}.`);
    }
    for (const key of Object.keys(a)) {
      // `{ admin: { prot: 9090 } }` or `{ admin: { tokne } }` must not silently mean something else.
      if (!(key in KNOWN_ADMIN_KEYS)) {
        throw invalid(
          `Unknown admin option "${key}". Known admin options: ${Object.keys(KNOWN_ADMIN_KEYS).join(', ')}.`,
        );
      }
    }
    const { port, host, paths, token } = a as AdminOptions;
    if (typeof port !== 'number' || !Number.isInteger(port)) {
      throw invalid(`The "admin.port" option must be an integer port number; received ${describe(port)}.`);
    }
    if (port < 0 || port > 65_535)
      throw range(`The "admin.port" option must be between 0 and 65535; received ${port}.`);
    if (host !== undefined && (typeof host !== 'string' || host.length === 0)) {
      throw invalid(
        `The "admin.host" option must be a non-empty string such as '0.0.0.0' or '127.0.0.1'; received ${describe(host)}.`,
      );
    }
    const resolvedPaths: AdminPaths = { ...DEFAULT_ADMIN_PATHS };
    if (paths !== undefined) {
      if (typeof paths !== 'object' || paths === null)
        throw invalid(`The "admin.paths" option must be an object; received ${describe(paths)}.`);
      for (const [name, value] of Object.entries(paths)) {
        if (!(name in DEFAULT_ADMIN_PATHS)) {
          throw invalid(`Unknown admin path "${name}". Known: ${Object.keys(DEFAULT_ADMIN_PATHS).join(', ')}.`);
        }
        if (typeof value !== 'string' || !value.startsWith('/')) {
          throw invalid(
            `The "admin.paths.${name}" option must be a path starting with '/'; received ${describe(value)}.`,
          );
        }
        resolvedPaths[name as keyof AdminPaths] = value;
      }
      if (new Set(Object.values(resolvedPaths)).size !== 4)
        throw invalid('The admin paths must be four different paths.');
    }
    admin = { port, host, token: adminToken(token), paths: resolvedPaths };
  }

  let metrics: MetricsOptions | undefined = {};
  if (options.metrics === false) metrics = undefined;
  else if (options.metrics !== undefined) {
    if (typeof options.metrics !== 'object' || options.metrics === null) {
      throw invalid(
        `The "metrics" option must be an object such as { registry }, or false; received ${describe(options.metrics)}.`,
      );
    }
    metrics = options.metrics;
  }

  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw invalid('The "logger" option must be a pino-compatible logger with info, warn and error methods.');
  }
  const isCapable = functionOption('isCapable', options.isCapable);
  const sendHint = functionOption('sendHint', options.sendHint);
  const random = functionOption('random', options.random) ?? Math.random;
  const rolloutHold = functionOption('rolloutHold', options.rolloutHold);
  const beforeExit = functionOption('beforeExit', options.beforeExit);
  const minWindowShare = numberInRange('minWindowShare', options.minWindowShare, 0.5, 0, 1);
  if (minWindowShare === 0) {
    throw range('The "minWindowShare" option must be greater than 0: a hold may not leave no window at all.');
  }

  let hintProtocol: HintProtocolOptions | undefined;
  if (options.hintProtocol !== undefined && options.hintProtocol !== false) {
    if (isCapable || sendHint) {
      throw invalid('Use either the "hintProtocol" option or the low-level "isCapable"/"sendHint" hooks, not both.');
    }
    const given = options.hintProtocol === true ? {} : options.hintProtocol;
    if (typeof given !== 'object' || given === null) {
      throw invalid(
        `The "hintProtocol" option must be true, false or { handoff, snapshot }; received ${describe(given)}.`,
      );
    }
    const { handoff, snapshot } = given;
    if (
      handoff !== undefined &&
      (typeof handoff !== 'object' ||
        handoff === null ||
        typeof handoff.seal !== 'function' ||
        typeof handoff.open !== 'function')
    ) {
      throw invalid(
        'The "hintProtocol.handoff" option must have seal(state) and open(token) methods, such as a @baton/handoff Handoff.',
      );
    }
    functionOption('hintProtocol.snapshot', snapshot);
    if (handoff && !snapshot) {
      throw invalid(
        'The "hintProtocol.handoff" option needs "hintProtocol.snapshot" too: the state to seal at hint time.',
      );
    }
    const { checkpointIntervalMs } = given;
    if (checkpointIntervalMs !== undefined) {
      durationOption('hintProtocol.checkpointIntervalMs', checkpointIntervalMs, 0, 100);
      if (!handoff) {
        throw invalid(
          'The "hintProtocol.checkpointIntervalMs" option needs "hintProtocol.handoff" and "snapshot": a checkpoint is a sealed snapshot.',
        );
      }
    }
    hintProtocol = {
      ...(handoff ? { handoff } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(checkpointIntervalMs !== undefined ? { checkpointIntervalMs } : {}),
    };
  }

  return {
    budget,
    maxClosesPerSecond,
    jitter,
    closeReason,
    retryAfterSeconds,
    readyWhileTerminating,
    readyWhileManualDrain,
    signals,
    exitAfterDrain,
    admin,
    metrics,
    logger: resolveLogger(options.logger),
    isCapable,
    sendHint,
    hintProtocol,
    hintTimeoutMs,
    random,
    rolloutHold,
    minWindowShare,
    admission: admissionOption(options.admission),
    beforeExit,
  };
}

/** Text that people paste before they generate a real secret. */
const PLACEHOLDER =
  /replace[-_ ]?me|change[-_ ]?me|placeholder|example|your[-_ ]?(token|secret)|^x+$|^(test|secret|token|password)$/i;

function adminToken(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  // The messages never quote the token: it is a secret.
  if (typeof token !== 'string') throw invalid(`The "admin.token" option must be a string; received ${typeof token}.`);
  if (token.length < 32 || new Set(token).size < 8 || PLACEHOLDER.test(token)) {
    throw range(
      'The "admin.token" option looks guessable (shorter than 32 characters, too few distinct characters, or a placeholder). Generate one, e.g. `openssl rand -base64 32`.',
    );
  }
  return token;
}

const KNOWN_ADMISSION_KEYS = {
  maxAcceptsPerSecond: true,
  burst: true,
  resumeAcceptsPerSecond: true,
  maxRetryAfterSeconds: true,
} as const satisfies Record<keyof AdmissionOptions, true>;

function admissionOption(value: unknown): Required<AdmissionOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      `The "admission" option must be an object such as { maxAcceptsPerSecond: 200 }, or false; received ${describe(value)}.`,
    );
  }
  for (const key of Object.keys(value)) {
    if (!(key in KNOWN_ADMISSION_KEYS)) {
      throw invalid(`Unknown admission option "${key}". Known: ${Object.keys(KNOWN_ADMISSION_KEYS).join(', ')}.`);
    }
  }
  const options = value as AdmissionOptions;
  if (options.maxAcceptsPerSecond === undefined) {
    throw invalid(
      'The "admission.maxAcceptsPerSecond" option is required: the accepted upgrades per second of one pod.',
    );
  }
  const maxAcceptsPerSecond = positiveNumber('admission.maxAcceptsPerSecond', options.maxAcceptsPerSecond, 0);
  const burst = positiveNumber('admission.burst', options.burst, Math.max(1, maxAcceptsPerSecond));
  if (burst < 1) throw range(`The "admission.burst" option must be at least 1; received ${burst}.`);
  const maxRetryAfterSeconds = numberInRange(
    'admission.maxRetryAfterSeconds',
    options.maxRetryAfterSeconds,
    5,
    1,
    3600,
  );
  if (!Number.isInteger(maxRetryAfterSeconds)) {
    throw range(
      `The "admission.maxRetryAfterSeconds" option must be a whole number of seconds; received ${maxRetryAfterSeconds}.`,
    );
  }
  return {
    maxAcceptsPerSecond,
    burst,
    resumeAcceptsPerSecond: positiveNumber(
      'admission.resumeAcceptsPerSecond',
      options.resumeAcceptsPerSecond,
      maxAcceptsPerSecond,
    ),
    maxRetryAfterSeconds,
  };
}

function invalid(message: string): TypeError {
  return codedError(TypeError, ErrorCodes.INVALID_OPTION, message);
}

function range(message: string): RangeError {
  return codedError(RangeError, ErrorCodes.INVALID_OPTION, message);
}

function numberInRange(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw invalid(`The "${name}" option must be a number; received ${describe(value)}.`);
  if (value < min || value > max)
    throw range(`The "${name}" option must be between ${min} and ${max}; received ${value}.`);
  return value;
}

function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw invalid(`The "${name}" option must be a number; received ${describe(value)}.`);
  if (!(value > 0)) throw range(`The "${name}" option must be greater than 0; received ${value}.`);
  return value;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw invalid(`The "${name}" option must be true or false; received ${describe(value)}.`);
  return value;
}

function functionOption<F>(name: string, value: F | undefined): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function')
    throw invalid(`The "${name}" option must be a function; received ${describe(value)}.`);
  return value;
}
