// The public API of @baton/drain-core: exactly what its README documents (API, Options, Events, Error codes,
// protocol constants). Everything else is internal and may change in any release.
export { type AdminPaths, DEFAULT_ADMIN_PATHS } from './admin-server.js';
export type { AdmissionOptions } from './admission-control.js';
export {
  BUDGET_DEFAULTS,
  type DrainBudget,
  type DrainBudgetInput,
  resolveDrainBudget,
} from './budget.js';
export { CLOSE_CODE_SERVICE_RESTART } from './closing-phase.js';
export type { DrainControllerEvents, StateChange } from './controller-events.js';
export { DrainController } from './drain-controller.js';
export type { DrainReport } from './drain-record.js';
export type { DrainRequest } from './drain-request.js';
export {
  DRAIN_ENV_VARIABLES,
  type DrainEnvironment,
  type DrainEnvironmentDefaults,
  type DrainEnvironmentInput,
  type DrainEnvVariable,
  drainEnvFrom,
  drainOptionsFromEnv,
  drainOptionsOf,
} from './env-contract.js';
export { BatonError, type CodedError, codedError, type ErrorCode, ErrorCodes } from './errors.js';
export {
  BATON_PROTOCOL,
  type CheckpointMessage,
  CONTROL_PREFIX,
  type ControlMessage,
  type HintProtocolOptions,
  PROTOCOL_VERSION,
  REBALANCE_PROTOCOL,
  RESUME_PROTOCOL_PREFIX,
  type ReconnectMessage,
  type ResumeResult,
  type SessionHandoff,
  type WelcomeMessage,
} from './hint-protocol.js';
export { IDENTITY_HEADERS } from './identity-options.js';
export { DrainState, type DrainStateName, type DrainTrigger } from './lifecycle.js';
export type { Logger } from './logger.js';
export { type MetricRow, type MetricSample, registerMetricTable } from './metric-table.js';
export { METRIC_NAMES, type MetricsRegistry } from './metrics.js';
export type {
  AdminOptions,
  DrainOptions,
  ExitAfterDrain,
  IdentityOptions,
  MetricsOptions,
  RebalanceOptions,
} from './options.js';
export type { PodTotals } from './pod-messages.js';
export { type PodMember, PodWorkers, type WorkerGroup } from './pod-primary.js';
export { joinPod, type PodChannel } from './pod-worker.js';
export type {
  HoldOutcome,
  HoldReport,
  RolloutHold,
  RolloutHoldContext,
  RolloutHoldResult,
} from './rollout-hold.js';
export type { ConnectionPhase, HintContext, SendHint, TrackedConnection } from './tracked-connection.js';
