export { PodProcess } from './cluster/pod-process.js';
export { type PodSpecInput, templateHash } from './cluster/pod-store.js';
export {
  Cluster,
  DeploymentController,
  type LabPod,
  type ReadinessModel,
  type ReleaseEnvironment,
  type ReleaseTimeline,
  selectorFlip,
} from './cluster/release.js';
export { KernelBalancer } from './datapath/kernel/kernel-balancer.js';
export type { DataPath, LabBalancer, Placement } from './datapath/lab-balancer.js';
export type { Endpoint } from './datapath/node/node-balancer.js';
// The harness other packages' tests use (gateway launcher, Node balancer, pod API, namespaces), as one module.
export * from './harness/index.js';
export { LAB_ROWS, labColumns, labHtmlReport, table } from './report/lab-report.js';
export { seededRandom } from './run/random.js';
export {
  defaultDataPath,
  type LabOptions,
  REAL,
  REAL_BUDGET,
  runStrategy,
  type StrategyResult,
  type StrategyRun,
} from './run/run-strategy.js';
export { STRATEGIES, type Strategy, type StrategyKind, type StrategyRecord } from './strategies/kinds.js';
export {
  defaultStrategies,
  matrixStrategies,
  READINESS,
  rebalanceStrategies,
  relayStrategies,
  unplannedStrategies,
} from './strategies/rows.js';
