// Who may change the drain over HTTP, as a decision over what a request shows (Host, Origin, Authorization,
// the container's proof): the admin server's tests cover real requests on loopback, test/admin-security.test.ts
// a real peer from another network namespace; this covers every case of the decision in the fast suite.

import { describe, expect, it } from 'vitest';
import { drainAuthorizer, isLoopback, isLoopbackHost } from '../src/drain-authorization.js';

const TOKEN = 'kH3v9-Qz1xW7pL0sT4bN8mC2rY6dF5gJ';
const PROOF = 'Zq0b8Vx3Lk7Pm2Ns9Rt4Wy1Ac6Df5Gh0Jk3Lm8Np2Qr';
const none = { host: '127.0.0.1:9090', origin: undefined, authorization: undefined, proof: undefined };

describe('drainAuthorizer', () => {
  it("the container's proof, sent to a loopback Host with no Origin, is the preStop hook", () => {
    const authorize = drainAuthorizer(TOKEN, () => PROOF);
    for (const host of ['127.0.0.1:9090', '127.0.0.1', '[::1]:9090', 'localhost:9090', '127.9.9.9'])
      expect(authorize({ ...none, host, proof: PROOF })).toBe('container');
    expect(authorize({ ...none, proof: `${PROOF}x` })).toBe('refused');
    expect(authorize({ ...none, proof: PROOF.slice(1) })).toBe('refused');
    for (const host of ['evil.example', '10.0.0.7:9090', '[fe80::1]:9090', undefined])
      expect(authorize({ ...none, host, proof: PROOF })).toBe('refused');
    expect(authorize({ ...none, proof: PROOF, origin: 'http://evil.example' })).toBe('refused');
    // No proof written (a read-only /tmp): nothing passes as the container.
    expect(drainAuthorizer(undefined, () => undefined)({ ...none, proof: '' })).toBe('refused');
  });

  it('a loopback address authorizes nothing by itself (a mesh sidecar, an SSRF, a cross-site request come from there)', () => {
    for (const address of ['127.0.0.1', '127.0.0.6', '::1', '::ffff:127.0.0.1']) expect(isLoopback(address)).toBe(true);
    expect(drainAuthorizer(TOKEN, () => PROOF)(none)).toBe('refused');
    expect(drainAuthorizer(undefined, () => PROOF)(none)).toBe('refused');
  });

  it('the bearer token is an operator: exactly that token, from any Host, never with an Origin', () => {
    const authorize = drainAuthorizer(TOKEN, () => PROOF);
    const peer = (authorization: string | undefined, host = '10.0.0.7:9090') =>
      authorize({ ...none, host, authorization });
    expect(peer(`Bearer ${TOKEN}`)).toBe('token');
    expect(peer(`bearer   ${TOKEN}`)).toBe('token');
    expect(peer(`Bearer ${TOKEN}`, '127.0.0.1:9090')).toBe('token');
    expect(peer(undefined)).toBe('refused');
    expect(peer(TOKEN)).toBe('refused');
    expect(peer(`Basic ${TOKEN}`)).toBe('refused');
    expect(peer(`Bearer ${TOKEN}x`)).toBe('refused');
    expect(peer(`Bearer ${TOKEN.slice(0, -1)}`)).toBe('refused');
    expect(peer('Bearer ')).toBe('refused');
    expect(authorize({ ...none, authorization: `Bearer ${TOKEN}`, origin: 'https://x.example' })).toBe('refused');
    expect(drainAuthorizer(undefined, () => PROOF)({ ...none, authorization: `Bearer ${TOKEN}` })).toBe('refused');
  });

  it('reads Host headers as a browser or node sends them', () => {
    for (const host of ['127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:9090', 'localhost', 'LOCALHOST:1'.toLowerCase()])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['127.0.0.1.evil.example', 'localhost.evil.example', '[::2]:9090', '0.0.0.0:9090', ''])
      expect(isLoopbackHost(host)).toBe(false);
  });
});
