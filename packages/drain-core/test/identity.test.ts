// The identity option: which pod and version served an upgrade, in its response headers (101 and 503), off by
// default, validated up front; and its two variables of the environment contract.

import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../../test/support/cleanups.js';
import { tryUpgrade } from '../../../test/support/clients.js';
import { FAST_DRAIN, startDrainedServer, stateReached } from '../../../test/support/servers.js';
import { DrainController, type DrainOptions, drainEnvFrom, drainOptionsFromEnv, drainOptionsOf } from '../src/index.js';

const cleanups = useCleanups();

const serve = (mode: 'server' | 'noServer', options: DrainOptions) => startDrainedServer(mode, options, cleanups);

describe.each(['server', 'noServer'] as const)('identity headers in %s mode', (mode) => {
  it('names the pod and the version on the 101 response, and on a refusal while closing', async () => {
    const { server, controller } = await serve(mode, { identity: { pod: 'gw-7d9f-abcde', version: '1.4.2' } });
    const accepted = await tryUpgrade(server.url);
    expect(accepted.status).toBe(101);
    expect(accepted.headers['baton-pod']).toBe('gw-7d9f-abcde');
    expect(accepted.headers['baton-version']).toBe('1.4.2');
    accepted.ws?.terminate();
    const drained = controller.drain();
    await stateReached(controller, 'closing');
    const refused = await tryUpgrade(server.url);
    expect(refused.status).toBe(503);
    expect(refused.headers['baton-pod']).toBe('gw-7d9f-abcde');
    expect(refused.headers['baton-version']).toBe('1.4.2');
    await drained;
  });

  it('sends nothing by default, and nothing once detached', async () => {
    const plain = await serve(mode, {});
    const upgrade = await tryUpgrade(plain.server.url);
    expect(upgrade.headers['baton-pod']).toBeUndefined();
    expect(upgrade.headers['baton-version']).toBeUndefined();
    upgrade.ws?.terminate();
    const named = await serve(mode, { identity: { version: 'v2' } });
    named.controller.detach(named.server.wss);
    const detached = await tryUpgrade(named.server.url);
    expect(detached.headers['baton-version']).toBeUndefined();
    detached.ws?.terminate();
  });
});

describe('identity option validation', () => {
  it.each([
    ['a string', 'pod-1'],
    ['an unknown key', { pod: 'a', node: 'b' }],
    ['a header injection', { pod: 'a\r\nSet-Cookie: x=1' }],
    ['a space', { version: '1 2' }],
    ['an empty value', { version: '' }],
    ['a number', { version: 2 }],
    ['a value too long', { pod: 'p'.repeat(254) }],
  ])('refuses %s with BATON_ERR_INVALID_OPTION', (_, identity) => {
    expect(() => new DrainController({ ...FAST_DRAIN, identity } as DrainOptions)).toThrow(
      expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringContaining('identity') }),
    );
  });
});

describe('identity in the environment contract', () => {
  it('reads BATON_IDENTITY_POD and BATON_IDENTITY_VERSION, writes them back, and refuses a bad value', () => {
    const env = drainEnvFrom({ identity: { pod: 'gw-1', version: 'v9' } });
    expect(env).toMatchObject({ BATON_IDENTITY_POD: 'gw-1', BATON_IDENTITY_VERSION: 'v9' });
    expect(drainOptionsOf(drainOptionsFromEnv(env)).identity).toEqual({ pod: 'gw-1', version: 'v9' });
    expect(drainOptionsOf(drainOptionsFromEnv({})).identity).toBeUndefined();
    expect(() => drainOptionsFromEnv({ BATON_IDENTITY_VERSION: 'v 1' })).toThrow(
      expect.objectContaining({
        code: 'BATON_ERR_INVALID_ENV',
        message: expect.stringContaining('BATON_IDENTITY_VERSION'),
      }),
    );
  });
});
