// The checks every option goes through, with drain-core's coded messages (BATON_ERR_INVALID_OPTION): the
// option's name, what it must be, and what was received (never a secret's value: callers pass none).

import { codedError, ErrorCodes } from './errors.js';

/** The longest delay a Node.js timer can wait. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Validate one duration option: a finite number of milliseconds ≥ min, ≤ MAX_TIMER_MS. */
export function durationOption(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw codedError(
      TypeError,
      ErrorCodes.INVALID_OPTION,
      `The "${name}" option must be a number of milliseconds; received ${describe(value)}.`,
    );
  }
  // Node's timers overflow above 2^31 − 1 ms (about 24.8 days) and fire at once, with a warning each time.
  if (!Number.isFinite(value) || value < min || value > MAX_TIMER_MS) {
    throw codedError(
      RangeError,
      ErrorCodes.INVALID_OPTION,
      `The "${name}" option must be a finite number of milliseconds between ${min} and ${MAX_TIMER_MS} (timers cannot wait longer); received ${value}.`,
    );
  }
  return value;
}

export function invalid(message: string): TypeError {
  return codedError(TypeError, ErrorCodes.INVALID_OPTION, message);
}

export function range(message: string): RangeError {
  return codedError(RangeError, ErrorCodes.INVALID_OPTION, message);
}

export function numberInRange(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw invalid(`The "${name}" option must be a number; received ${describe(value)}.`);
  if (value < min || value > max)
    throw range(`The "${name}" option must be between ${min} and ${max}; received ${value}.`);
  return value;
}

export function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw invalid(`The "${name}" option must be a number; received ${describe(value)}.`);
  if (!(value > 0)) throw range(`The "${name}" option must be greater than 0; received ${value}.`);
  return value;
}

export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw invalid(`The "${name}" option must be true or false; received ${describe(value)}.`);
  return value;
}

export function functionOption<F>(name: string, value: F | undefined): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function')
    throw invalid(`The "${name}" option must be a function; received ${describe(value)}.`);
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
  if (typeof value === 'number') return `the number ${value}`;
  return `a value of type ${typeof value}`;
}
