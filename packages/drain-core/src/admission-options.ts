// The "admission" option: admission control's rates, burst and Retry-After bound (admission-control.ts uses
// them), validated up front.

import type { AdmissionOptions } from './admission-control.js';
import { describe, invalid, numberInRange, positiveNumber, range } from './option-checks.js';

const KNOWN_ADMISSION_KEYS = {
  maxAcceptsPerSecond: true,
  burst: true,
  resumeAcceptsPerSecond: true,
  maxRetryAfterSeconds: true,
} as const satisfies Record<keyof AdmissionOptions, true>;

export function admissionOption(value: unknown): Required<AdmissionOptions> | undefined {
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
