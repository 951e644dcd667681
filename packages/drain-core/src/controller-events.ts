// What a DrainController emits: its state changes and the report of a finished drain.

import type { DrainReport } from './drain-record.js';
import type { DrainStateName, DrainTrigger } from './lifecycle.js';
import type { TrackedConnection } from './tracked-connection.js';

export interface StateChange {
  readonly from: DrainStateName;
  readonly to: DrainStateName;
  readonly trigger: DrainTrigger | undefined;
}

export interface DrainControllerEvents {
  state: [StateChange];
  drained: [DrainReport];
  connection: [TrackedConnection];
}
