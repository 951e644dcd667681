// The "hintProtocol" option: Baton's reconnect hints (protocol v1), with a handoff that seals each session's
// snapshot and the checkpoint interval, validated up front.

import type { HintProtocolOptions } from './hint-protocol.js';
import { describe, durationOption, functionOption, invalid } from './option-checks.js';

/** `lowLevelHooks`: isCapable or sendHint was given too (they and hintProtocol exclude each other). */
export function hintProtocolOption(
  value: HintProtocolOptions | boolean | undefined,
  lowLevelHooks: boolean,
): HintProtocolOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (lowLevelHooks) {
    throw invalid('Use either the "hintProtocol" option or the low-level "isCapable"/"sendHint" hooks, not both.');
  }
  const given = value === true ? {} : value;
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
  return {
    ...(handoff ? { handoff } : {}),
    ...(snapshot ? { snapshot } : {}),
    ...(checkpointIntervalMs !== undefined ? { checkpointIntervalMs } : {}),
  };
}
