// @baton/probe: the client fleet, its figures and its report — for `baton-probe` and for the lab.

export { RolloutWatch, type RolloutWatchOptions } from './cluster/rollout-watch.js';
export { ProbeError, type ProbeErrorCode, ProbeErrorCodes } from './errors.js';
export {
  buildReport,
  mergeReports,
  type ProbeMeta,
  type ProbeReport,
  REPORT_FORMAT,
  type Thresholds,
} from './figures/probe-report.js';
export {
  type ClientOutcome,
  type ProbeRun,
  type RolloutEvent,
  type RunConnection,
  type RunRefusal,
  runFromRecords,
} from './figures/probe-run.js';
export { type Histogram, type ProbeFigures, type SummarizeOptions, summarize } from './figures/summarize.js';
export {
  type ClientRecord,
  type ConnectionKind,
  type ConnectionRecord,
  type RefusalRecord,
  since,
} from './fleet/client-record.js';
export { Fleet, type FleetOptions } from './fleet/fleet.js';
export type { FleetProgress, FleetStart } from './fleet/fleet-worker.js';
export type { VersionSource } from './fleet/identify.js';
export { probeRelease, type ReleaseProbeOptions } from './release.js';
export { htmlReport } from './report/report-html.js';
export { type ReportColumn, reportRows } from './report/rows.js';
export { reportTable } from './report/table.js';
