export { type ClientRecord, Fleet, type FleetOptions } from './fleet.js';
export { type LabOptions, runStrategy, type StrategyResult, type StrategyRun } from './lab.js';
export { type Endpoint, LoadBalancer, type LoadBalancerOptions } from './load-balancer.js';
export { Pod } from './pod.js';
export { Cluster, type ReleaseEnvironment, type ReleaseTimeline, release, type Strategy } from './release.js';
export { table } from './report.js';
export { htmlReport } from './report-html.js';
export { defaultStrategies } from './strategies.js';
