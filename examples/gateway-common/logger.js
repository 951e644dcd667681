// @ts-check
// JSON lines on stdout, pino-shaped, so the lab and tests can follow what a gateway does.

/** @param {string} level @param {Record<string, unknown>} object @param {string} msg */
function log(level, object, msg) {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...object })}\n`);
}

export const logger = {
  /** @param {Record<string, unknown>} object @param {string} msg */
  info: (object, msg) => log('info', object, msg),
  /** @param {Record<string, unknown>} object @param {string} msg */
  warn: (object, msg) => log('warn', object, msg),
  /** @param {Record<string, unknown>} object @param {string} msg */
  error: (object, msg) => log('error', object, msg),
};
