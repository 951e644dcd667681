import { describe, expect, it } from 'vitest';
import { DrainController, resolveDrainBudget } from '../src/index.js';

describe('resolveDrainBudget', () => {
  it('derives the window from the grace period by default', () => {
    const budget = resolveDrainBudget();
    expect(budget).toMatchObject({
      gracePeriodMs: 30_000,
      propagationDelayMs: 15_000,
      closeTimeoutMs: 5_000,
      safetyMarginMs: 2_000,
      drainWindowMs: 8_000,
      drainWindowDerived: true,
      worstCaseDrainMs: 28_000,
    });
  });

  it('accepts a window that fits exactly', () => {
    const budget = resolveDrainBudget({
      gracePeriodMs: 120_000,
      propagationDelayMs: 15_000,
      drainWindowMs: 98_000,
      closeTimeoutMs: 5_000,
    });
    expect(budget.drainWindowMs).toBe(98_000);
    expect(budget.drainWindowDerived).toBe(false);
  });

  it('rejects a window that does not fit, naming the numbers to change', () => {
    let error: unknown;
    try {
      resolveDrainBudget({ gracePeriodMs: 30_000, drainWindowMs: 20_000 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ code: 'BATON_ERR_BUDGET' });
    expect((error as Error).message).toBe(
      'Impossible drain budget: gracePeriodMs (30000) is less than drainWindowMs (20000) + propagationDelayMs (15000) + closeTimeoutMs (5000) + safetyMarginMs (2000) = 42000. ' +
        'Raise gracePeriodMs (terminationGracePeriodSeconds) to at least 42000, or lower drainWindowMs to at most 8000.',
    );
  });

  it('rejects a grace period that leaves no window', () => {
    expect(() => resolveDrainBudget({ gracePeriodMs: 20_000 })).toThrowError(
      expect.objectContaining({
        name: 'RangeError',
        code: 'BATON_ERR_BUDGET',
        message: expect.stringContaining('Raise gracePeriodMs (terminationGracePeriodSeconds) above 22000'),
      }),
    );
  });

  it.each([
    [
      'gracePeriodMs',
      '30000',
      TypeError,
      'The "gracePeriodMs" option must be a number of milliseconds; received a string ("30000").',
    ],
    [
      'propagationDelayMs',
      Number.NaN,
      TypeError,
      'The "propagationDelayMs" option must be a number of milliseconds; received the number NaN.',
    ],
    [
      'closeTimeoutMs',
      -1,
      RangeError,
      'The "closeTimeoutMs" option must be a finite number of milliseconds between 1 and 2147483647 (timers cannot wait longer); received -1.',
    ],
    [
      'safetyMarginMs',
      Number.POSITIVE_INFINITY,
      RangeError,
      'The "safetyMarginMs" option must be a finite number of milliseconds between 0 and 2147483647 (timers cannot wait longer); received Infinity.',
    ],
    ['drainWindowMs', null, TypeError, 'The "drainWindowMs" option must be a number of milliseconds; received null.'],
  ])('rejects %s = %s', (name, value, Kind, message) => {
    expect(() => resolveDrainBudget({ [name]: value } as never)).toThrowError(
      expect.objectContaining({ name: Kind.name, code: 'BATON_ERR_INVALID_OPTION', message }),
    );
  });
});

describe('DrainController options', () => {
  const cases: [string, unknown, string][] = [
    ['not an object', 42, 'The options must be an object; received the number 42.'],
    ['unknown option', { gracePeriodSeconds: 30 }, 'Unknown option "gracePeriodSeconds".'],
    ['unknown admin option', { admin: { prot: 9090 } }, 'Unknown admin option "prot".'],
    ['bad jitter', { jitter: 2 }, 'The "jitter" option must be between 0 and 1; received 2.'],
    ['bad rate', { maxClosesPerSecond: 0 }, 'The "maxClosesPerSecond" option must be greater than 0; received 0.'],
    [
      'long reason',
      { closeReason: 'x'.repeat(124) },
      'The "closeReason" option must be at most 123 bytes of UTF-8 (a close frame limit); it is 124.',
    ],
    ['bad reason', { closeReason: 5 }, 'The "closeReason" option must be a string; received the number 5.'],
    [
      'bad readiness',
      { readyWhileTerminating: 'yes' },
      'The "readyWhileTerminating" option must be true or false; received a string ("yes").',
    ],
    ['bad signals', { signals: 'SIGTERM' }, 'The "signals" option must be an array of signal names'],
    [
      'bad exit',
      { exitAfterDrain: 'sometimes' },
      `The "exitAfterDrain" option must be one of 'on-signal', 'always', 'never'; received a string ("sometimes").`,
    ],
    [
      'bad admin',
      { admin: 9090 },
      'The "admin" option must be an object such as { port: 9090 }, or false; received the number 9090.',
    ],
    [
      'bad admin port',
      { admin: { port: '9090' } },
      'The "admin.port" option must be an integer port number; received a string ("9090").',
    ],
    [
      'admin port range',
      { admin: { port: 70_000 } },
      'The "admin.port" option must be between 0 and 65535; received 70000.',
    ],
    [
      'admin path',
      { admin: { port: 0, paths: { drain: 'drain' } } },
      `The "admin.paths.drain" option must be a path starting with '/'; received a string ("drain").`,
    ],
    [
      'admin path clash',
      { admin: { port: 0, paths: { drain: '/readyz' } } },
      'The admin paths must be four different paths.',
    ],
    [
      'bad logger',
      { logger: console.log },
      'The "logger" option must be a pino-compatible logger with info, warn and error methods.',
    ],
    ['bad hook', { sendHint: true }, 'The "sendHint" option must be a function; received a value of type boolean.'],
    [
      'bad retry-after',
      { retryAfterSeconds: -1 },
      'The "retryAfterSeconds" option must be between 0 and 86400; received -1.',
    ],
    [
      'a zero window share',
      { minWindowShare: 0 },
      'The "minWindowShare" option must be greater than 0: a hold may not leave no window at all.',
    ],
    ['a window share above 1', { minWindowShare: 1.5 }, 'The "minWindowShare" option must be between 0 and 1'],
    ['a hold that is not a hook', { rolloutHold: 'kubernetes' }, 'The "rolloutHold" option must be a function'],
    ['a beforeExit that is not a function', { beforeExit: 5 }, 'The "beforeExit" option must be a function'],
    [
      'an admin token that is not a string',
      { admin: { port: 0, token: 5 } },
      'The "admin.token" option must be a string',
    ],
  ];
  it.each(cases)('rejects %s with a coded error', (_label, options, message) => {
    let error: unknown;
    try {
      new DrainController(options as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'BATON_ERR_INVALID_OPTION' });
    expect((error as Error).message.startsWith(message)).toBe(true);
  });

  it('resolves defaults', () => {
    const controller = new DrainController();
    expect(controller.state).toBe('serving');
    expect(controller.options).toMatchObject({
      jitter: 1,
      closeReason: 'server draining',
      retryAfterSeconds: 1,
      readyWhileTerminating: true,
      readyWhileManualDrain: false,
      signals: ['SIGTERM'],
      exitAfterDrain: 'on-signal',
      admin: undefined,
      hintTimeoutMs: 5_000,
    });
    expect(controller.options.maxClosesPerSecond).toBe(Number.POSITIVE_INFINITY);
    expect(controller.isReady()).toBe(true);
  });

  it('leaves the admin host to the dual-stack default (bound at listen), as the kubelet probes the pod IP', () => {
    expect(new DrainController({ admin: { port: 0 } }).options.admin).toEqual({
      port: 0,
      host: undefined,
      token: undefined,
      paths: { readiness: '/readyz', liveness: '/livez', drain: '/drain', metrics: '/metrics' },
    });
  });

  it('refuses to attach something that is not a WebSocketServer', () => {
    expect(() => new DrainController().attach({} as never)).toThrowError(
      expect.objectContaining({ name: 'TypeError', code: 'BATON_ERR_INVALID_SERVER' }),
    );
  });
});
