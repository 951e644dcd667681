import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as server from '../../drain-core/src/hint-protocol.js';
import { reconnectDelay } from '../src/backoff.js';
import { BATON_PROTOCOL, CONTROL_PREFIX, parseControl, RESUME_PROTOCOL_PREFIX } from '../src/protocol.js';

describe('protocol constants', () => {
  it('agree with the server side (two copies by design: the client imports nothing server-side)', () => {
    expect(BATON_PROTOCOL).toBe(server.BATON_PROTOCOL);
    expect(RESUME_PROTOCOL_PREFIX).toBe(server.RESUME_PROTOCOL_PREFIX);
    expect(CONTROL_PREFIX).toBe(server.CONTROL_PREFIX);
  });

  it('parses what the server encodes', () => {
    expect(parseControl(server.encodeControl({ t: 'welcome', v: 1, resumed: true }))).toEqual({
      t: 'welcome',
      resumed: true,
    });
    expect(
      parseControl(
        server.encodeControl({ t: 'welcome', v: 1, resumed: false, resumeError: 'BATON_ERR_TOKEN_EXPIRED' }),
      ),
    ).toEqual({
      t: 'welcome',
      resumed: false,
      resumeError: 'BATON_ERR_TOKEN_EXPIRED',
    });
    expect(
      parseControl(server.encodeControl({ t: 'reconnect', v: 1, deadline: 123, reason: 'r', token: 'abc-_' })),
    ).toEqual({
      t: 'reconnect',
      deadline: 123,
      reason: 'r',
      token: 'abc-_',
    });
  });
});

describe('parseControl', () => {
  it('reads a checkpoint, and agrees with the server encoding it', () => {
    expect(parseControl(server.encodeControl({ t: 'checkpoint', v: 1, token: 'abc-_' }))).toEqual({
      t: 'checkpoint',
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
