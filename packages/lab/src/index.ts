export { type ClientRecord, Fleet, type FleetOptions } from './fleet.js';
export {
  budgetEnv,
  type GatewayProcess,
  type LogLine,
  type StartGatewayOptions,
  startGateway,
} from './gateway-launcher.js';
export { KernelBalancer } from './kernel-balancer.js';
export { KubeApi, type KubeApiControls } from './kube-api.js';
export {
  defaultDataPath,
  type LabOptions,
  REAL,
  REAL_BUDGET,
  runStrategy,
  type StrategyResult,
  type StrategyRun,
} from './lab.js';
export type { DataPath, LabBalancer, Placement } from './lab-balancer.js';
export { type Endpoint, LoadBalancer, type LoadBalancerOptions } from './load-balancer.js';
export { Pod } from './pod.js';
export { APP_LABEL, LAB_NAMESPACE, type PodSpecInput, PodStore, templateHash } from './pod-store.js';
export { seededRandom } from './random.js';
export {
  Cluster,
  DeploymentController,
  type LabPod,
  type ReadinessModel,
  type ReleaseEnvironment,
  type ReleaseTimeline,
  type Strategy,
  selectorFlip,
} from './release.js';
export { ROWS, table } from './report.js';
export { htmlReport } from './report-html.js';
export {
  defaultStrategies,
  matrixStrategies,
  READINESS,
  relayStrategies,
  unplannedStrategies,
} from './strategies.js';
