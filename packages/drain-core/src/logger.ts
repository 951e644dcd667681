// Logging is the app's: any pino-compatible logger (`logger.info(obj, msg)`). Without one, Baton is silent
// unless NODE_DEBUG=baton is set, as Node's own modules are.

import { debuglog } from 'node:util';

type LogFn = (object: Record<string, unknown>, message: string) => void;

export interface Logger {
  debug?: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface ResolvedLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export function resolveLogger(logger: Logger | undefined): ResolvedLogger {
  if (logger) {
    const bind = (fn: LogFn | undefined): LogFn => (fn ? fn.bind(logger) : () => {});
    return { debug: bind(logger.debug), info: bind(logger.info), warn: bind(logger.warn), error: bind(logger.error) };
  }
  const debug = debuglog('baton');
  const log: LogFn = debug.enabled ? (object, message) => debug('%s %j', message, object) : () => {};
  return { debug: log, info: log, warn: log, error: log };
}

export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return ['info', 'warn', 'error'].every((level) => typeof candidate[level] === 'function');
}
