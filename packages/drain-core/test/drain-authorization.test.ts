// Who may start a drain, as a decision over what a request shows (its peer's address, its Authorization
// header): the admin server's tests cover loopback peers, test/admin-security.test.ts a real peer from another
// network namespace; this covers every case of the decision in the fast suite.

import { describe, expect, it } from 'vitest';
import { drainAuthorizer, isLoopback } from '../src/drain-authorization.js';

const TOKEN = 'kH3v9-Qz1xW7pL0sT4bN8mC2rY6dF5gJ';

describe('drainAuthorizer', () => {
  it('authorizes loopback peers (v4, v6, v4-mapped), with or without a token configured', () => {
    for (const remoteAddress of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopback(remoteAddress)).toBe(true);
      expect(drainAuthorizer(undefined)({ remoteAddress, authorization: undefined })).toBe('loopback');
      expect(drainAuthorizer(TOKEN)({ remoteAddress, authorization: undefined })).toBe('loopback');
    }
  });

  it('refuses every other peer when no token is configured, whatever it offers', () => {
    const authorize = drainAuthorizer(undefined);
    for (const remoteAddress of ['10.0.0.7', '::ffff:10.0.0.7', 'fe80::1', '128.0.0.1', undefined]) {
      expect(authorize({ remoteAddress, authorization: undefined })).toBe('refused');
      expect(authorize({ remoteAddress, authorization: `Bearer ${TOKEN}` })).toBe('refused');
    }
  });

  it('with a token, a peer that is not loopback drains only with exactly that bearer token', () => {
    const authorize = drainAuthorizer(TOKEN);
    const peer = (authorization: string | undefined) => authorize({ remoteAddress: '10.0.0.7', authorization });
    expect(peer(`Bearer ${TOKEN}`)).toBe('token');
    expect(peer(`bearer   ${TOKEN}`)).toBe('token');
    expect(peer(undefined)).toBe('refused');
    expect(peer(TOKEN)).toBe('refused');
    expect(peer(`Basic ${TOKEN}`)).toBe('refused');
    expect(peer(`Bearer ${TOKEN}x`)).toBe('refused');
    expect(peer(`Bearer ${TOKEN.slice(0, -1)}`)).toBe('refused');
    expect(peer('Bearer ')).toBe('refused');
  });
});
