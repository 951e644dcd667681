// Every option of a DrainController, its default, and its validation. Invalid options throw at construction
// with a message that says what to change, so a bad value never surfaces as a surprise at SIGKILL time.

import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { WebSocket } from 'ws';
import { type AdminOptions, adminOption, type ResolvedAdminOptions } from './admin-options.js';
import type { AdmissionOptions } from './admission-control.js';
import { admissionOption } from './admission-options.js';
import { type DrainBudget, type DrainBudgetInput, resolveDrainBudget } from './budget.js';
import type { HintProtocolOptions } from './hint-protocol.js';
import { hintProtocolOption } from './hint-protocol-options.js';
import { type IdentityOptions, identityOption } from './identity-options.js';
import { isLogger, type Logger, type ResolvedLogger, resolveLogger } from './logger.js';
import {
  booleanOption,
  describe,
  durationOption,
  functionOption,
  invalid,
  numberInRange,
  positiveNumber,
  range,
} from './option-checks.js';
import { type RebalanceOptions, type ResolvedRebalanceOptions, rebalanceOption } from './rebalance-options.js';
import type { RolloutHold } from './rollout-hold.js';
import type { SendHint } from './tracked-connection.js';

export type { AdminOptions } from './admin-options.js';
export type { IdentityOptions } from './identity-options.js';
export type { RebalanceOptions } from './rebalance-options.js';

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
  /**
   * Name the pod and the version that served each upgrade in its response headers (Baton-Pod, Baton-Version;
   * also on 503 refusals), for @baton/probe. Off by default: every client can read them.
   */
  identity?: IdentityOptions | false;
  /**
   * Rebalancing after a scale-out: when this pod holds more than its share of the fleet's connections, it
   * hints Baton connections to move, paced, and refuses movers while at its share. Plain connections are
   * never moved. Needs hintProtocol. Off by default; runs once start() resolved. See RebalanceOptions.
   */
  rebalance?: RebalanceOptions | false;
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
  readonly admin: ResolvedAdminOptions | undefined;
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
  /** The identity headers of every upgrade response; empty when the option is off. */
  readonly identityHeaders: Readonly<OutgoingHttpHeaders>;
  readonly rebalance: ResolvedRebalanceOptions | undefined;
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
  identity: true,
  rebalance: true,
} as const satisfies Record<keyof DrainOptions, true>;
const KNOWN_OPTIONS: ReadonlySet<string> = new Set(Object.keys(KNOWN_OPTION_KEYS));
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

  const closeReason = closeReasonOption(options.closeReason);

  const readyWhileTerminating = booleanOption('readyWhileTerminating', options.readyWhileTerminating, true);
  const readyWhileManualDrain = booleanOption('readyWhileManualDrain', options.readyWhileManualDrain, false);

  const signals = signalsOption(options.signals);

  const exitAfterDrain = exitAfterDrainOption(options.exitAfterDrain);
  const admin = adminOption(options.admin);

  const metrics = metricsOption(options.metrics);

  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw invalid('The "logger" option must be a pino-compatible logger with info, warn and error methods.');
  }
  const isCapable = functionOption('isCapable', options.isCapable);
  const sendHint = functionOption('sendHint', options.sendHint);
  const random = functionOption('random', options.random) ?? Math.random;
  const rolloutHold = functionOption('rolloutHold', options.rolloutHold);
  const beforeExit = functionOption('beforeExit', options.beforeExit);
  const minWindowShare = minWindowShareOption(options.minWindowShare);

  const hintProtocol = hintProtocolOption(options.hintProtocol, isCapable !== undefined || sendHint !== undefined);

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
    identityHeaders: identityOption(options.identity),
    rebalance: rebalanceOption(options.rebalance, hintProtocol !== undefined || sendHint !== undefined),
  };
}

function closeReasonOption(value: unknown): string {
  const closeReason = value ?? 'server draining';
  if (typeof closeReason !== 'string') {
    throw invalid(`The "closeReason" option must be a string; received ${describe(closeReason)}.`);
  }
  if (Buffer.byteLength(closeReason) > 123) {
    throw range(
      `The "closeReason" option must be at most 123 bytes of UTF-8 (a close frame limit); it is ${Buffer.byteLength(closeReason)}.`,
    );
  }
  return closeReason;
}

function signalsOption(value: unknown): NodeJS.Signals[] {
  if (value === false) return [];
  if (value === undefined) return ['SIGTERM'];
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s))) {
    throw invalid(
      `The "signals" option must be an array of signal names such as ['SIGTERM'], or false; received ${describe(value)}.`,
    );
  }
  return [...new Set(value as NodeJS.Signals[])];
}

function exitAfterDrainOption(value: unknown): ExitAfterDrain {
  const exitAfterDrain = (value ?? 'on-signal') as ExitAfterDrain;
  if (!EXIT_MODES.includes(exitAfterDrain)) {
    throw invalid(
      `The "exitAfterDrain" option must be one of ${EXIT_MODES.map((m) => `'${m}'`).join(', ')}; received ${describe(exitAfterDrain)}.`,
    );
  }
  return exitAfterDrain;
}

function metricsOption(value: unknown): MetricsOptions | undefined {
  if (value === false) return undefined;
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) {
    throw invalid(
      `The "metrics" option must be an object such as { registry }, or false; received ${describe(value)}.`,
    );
  }
  return value as MetricsOptions;
}

function minWindowShareOption(value: unknown): number {
  const minWindowShare = numberInRange('minWindowShare', value, 0.5, 0, 1);
  if (minWindowShare === 0) {
    throw range('The "minWindowShare" option must be greater than 0: a hold may not leave no window at all.');
  }
  return minWindowShare;
}
