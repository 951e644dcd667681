import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as server from '../../drain-core/src/hint-protocol.js';
import { reconnectDelay } from '../src/backoff.js';
import {
  BATON_PROTOCOL,
  CONTROL_PREFIX,
  ControlGate,
  parseControl,
  REBALANCE_PROTOCOL,
  RESUME_PROTOCOL_PREFIX,
} from '../src/protocol.js';

describe('protocol constants', () => {
  it('agree with the server side (two copies by design: the client imports nothing server-side)', () => {
    expect(BATON_PROTOCOL).toBe(server.BATON_PROTOCOL);
    expect(RESUME_PROTOCOL_PREFIX).toBe(server.RESUME_PROTOCOL_PREFIX);
    expect(REBALANCE_PROTOCOL).toBe(server.REBALANCE_PROTOCOL);
    expect(CONTROL_PREFIX).toBe(server.CONTROL_PREFIX);
  });

  it('parses what the server encodes, its control key included', () => {
    const k = server.newControlKey();
    expect(k).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(parseControl(server.encodeControl({ t: 'welcome', v: 1, k, resumed: true }))).toEqual({
      t: 'welcome',
      k,
      resumed: true,
    });
    expect(
      parseControl(
        server.encodeControl({ t: 'welcome', v: 1, k, resumed: false, resumeError: 'BATON_ERR_TOKEN_EXPIRED' }),
      ),
    ).toEqual({
      t: 'welcome',
      k,
      resumed: false,
      resumeError: 'BATON_ERR_TOKEN_EXPIRED',
    });
    expect(
      parseControl(server.encodeControl({ t: 'reconnect', v: 1, k, deadline: 123, reason: 'r', token: 'abc-_' })),
    ).toEqual({
      t: 'reconnect',
      k,
      deadline: 123,
      reason: 'r',
      token: 'abc-_',
    });
  });
});

describe('ControlGate', () => {
  const k = server.newControlKey();
  const welcome = { t: 'welcome', k, resumed: false } as const;
  const checkpoint = (key?: string) => ({ t: 'checkpoint', token: 'tok', ...(key ? { k: key } : {}) }) as const;

  it('takes the welcome first, then only messages carrying its key', () => {
    const gate = new ControlGate();
    expect(gate.admit(welcome)).toBe(true);
    expect(gate.admit(checkpoint(k))).toBe(true);
    expect(gate.admit({ t: 'reconnect', k, deadline: 1, reason: '' })).toBe(true);
  });

  it('drops what the app could have sent: another key, no key, a second welcome', () => {
    const gate = new ControlGate();
    gate.admit(welcome);
    expect(gate.admit(checkpoint(server.newControlKey()))).toBe(false);
    expect(gate.admit(checkpoint())).toBe(false);
    expect(gate.admit({ t: 'reconnect', deadline: 1, reason: '', token: 'attacker' })).toBe(false);
    expect(gate.admit({ ...welcome, resumed: true })).toBe(false);
  });

  it('drops any control message before the welcome', () => {
    const gate = new ControlGate();
    expect(gate.admit(checkpoint(k))).toBe(false);
    expect(gate.admit(welcome)).toBe(true);
  });

  it('takes keyless messages after a keyless welcome (a server older than keys)', () => {
    const gate = new ControlGate();
    expect(gate.admit({ t: 'welcome', resumed: false })).toBe(true);
    expect(gate.admit(checkpoint())).toBe(true);
  });
});

describe('parseControl keys', () => {
  it('treats a key that is not one as a malformed message, never as no key', () => {
    for (const bad of ['short', 'x'.repeat(65), 'has space in it..', 42, null]) {
      expect(parseControl(`${CONTROL_PREFIX}${JSON.stringify({ t: 'checkpoint', v: 1, k: bad, token: 't' })}`)).toBe(
        null,
      );
    }
  });
});

describe('parseControl', () => {
  it('reads a checkpoint, and agrees with the server encoding it', () => {
    const k = server.newControlKey();
    expect(parseControl(server.encodeControl({ t: 'checkpoint', v: 1, k, token: 'abc-_' }))).toEqual({
      t: 'checkpoint',
      k,
      token: 'abc-_',
    });
  });

  it('leaves app messages alone', () => {
    expect(parseControl('{"type":"tick"}')).toBeUndefined();
    expect(parseControl(new Uint8Array([0, 98]))).toBeUndefined();
    expect(parseControl('baton:{"t":"welcome"}')).toBeUndefined();
  });

  it.each([
    `${CONTROL_PREFIX}not json`,
    `${CONTROL_PREFIX}null`,
    `${CONTROL_PREFIX}{"t":"welcome","v":2,"resumed":true}`,
    `${CONTROL_PREFIX}{"t":"welcome","v":1}`,
    `${CONTROL_PREFIX}{"t":"reconnect","v":1,"deadline":"soon"}`,
    `${CONTROL_PREFIX}{"t":"shutdown","v":1}`,
    `${CONTROL_PREFIX}{"t":"checkpoint","v":1}`,
    `${CONTROL_PREFIX}{"t":"checkpoint","v":1,"token":"a b"}`,
  ])('drops a malformed or unknown control frame: %j', (frame) => {
    expect(parseControl(frame)).toBeNull();
  });

  it('drops a token with characters that could not travel in a subprotocol entry', () => {
    expect(parseControl(`${CONTROL_PREFIX}{"t":"reconnect","v":1,"deadline":1,"reason":"","token":"a b"}`)).toEqual({
      t: 'reconnect',
      deadline: 1,
      reason: '',
    });
  });

  it('never throws, and never calls an app message a control message (10,000 cases)', () => {
    const controlish = fc.oneof(
      fc.string(),
      fc.json().map((json) => CONTROL_PREFIX + json),
      fc.string().map((text) => CONTROL_PREFIX + text),
      fc
        .record(
          {
            t: fc.constantFrom('welcome', 'reconnect', 'x'),
            v: fc.oneof(fc.constant(1), fc.integer()),
            resumed: fc.anything(),
            deadline: fc.anything(),
            token: fc.anything(),
            reason: fc.anything(),
          },
          { requiredKeys: [] },
        )
        .map((value) => CONTROL_PREFIX + JSON.stringify(value)),
      fc.anything(),
    );
    fc.assert(
      fc.property(controlish, (input) => {
        const result = parseControl(input);
        if (typeof input !== 'string' || !input.startsWith(CONTROL_PREFIX)) return result === undefined;
        if (result === null) return true;
        return result?.t === 'welcome' ? typeof result.resumed === 'boolean' : typeof result?.deadline === 'number';
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('reconnectDelay', () => {
  it('is full jitter over a doubling, capped window', () => {
    expect(reconnectDelay(0, 1006, {}, () => 0.999_999)).toBeCloseTo(500, 0);
    expect(reconnectDelay(3, 1006, {}, () => 0.5)).toBe(2_000);
    expect(reconnectDelay(20, 1006, {}, () => 0.999_999)).toBeCloseTo(30_000, 0);
    expect(reconnectDelay(20, 1006, { maxDelayMs: 300_000 }, () => 1)).toBe(300_000);
    expect(reconnectDelay(2, 1006, {}, () => 0)).toBe(0);
  });

  it('comes back sooner after 1012 or 1013', () => {
    expect(reconnectDelay(0, 1012, {}, () => 1)).toBe(1_000);
    expect(reconnectDelay(0, 1013, { restartDelayMs: 200 }, () => 1)).toBe(200);
    expect(reconnectDelay(1, 1012, {}, () => 1)).toBe(1_000);
    expect(reconnectDelay(4, 1012, {}, () => 1)).toBe(8_000);
  });
});
