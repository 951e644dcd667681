// The BATON_* environment contract: one parser in drain-core (drainOptionsFromEnv), read by the example
// gateways and baton-relay alike. Unit checks of the parser, then real processes: every Baton process refuses
// the same invalid values at start-up (exit 2, BATON_ERR_INVALID_ENV, the variable named).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DRAIN_ENV_VARIABLES,
  drainEnvFrom,
  drainOptionsFromEnv,
  drainOptionsOf,
} from '../packages/drain-core/src/index.js';

const SECRET = 'do-not-print-this-secret-0123456789abcdef';

/** Invalid values, each with the variable the refusal must name. */
const INVALID: [variable: string, value: string][] = [
  ['BATON_GRACE_PERIOD_SECONDS', 'thirty'],
  ['BATON_PROPAGATION_SECONDS', '-1'],
  ['BATON_DRAIN_WINDOW_SECONDS', 'NaN'],
  ['BATON_CLOSE_TIMEOUT_SECONDS', 'Infinity'],
  ['BATON_MIN_WINDOW_SHARE', '1.5'],
  ['BATON_MIN_WINDOW_SHARE', '0'],
  ['BATON_MAX_ACCEPTS_PER_SECOND', '0'],
  ['BATON_MAX_ACCEPTS_PER_SECOND', 'lots'],
  ['BATON_ROLLOUT_HOLD', 'argo'],
  ['BATON_KUBERNETES_TIMEOUT_SECONDS', '0'],
  ['ADMIN_PORT', '70000'],
  ['BATON_CHECKPOINT_SECONDS', '-5'],
  ['BATON_IDENTITY_VERSION', 'v 1'],
  ['BATON_REBALANCE_SECONDS', 'soon'],
  ['BATON_REBALANCE_SECONDS', '0.5'],
  ['BATON_REBALANCE_PEERS', 'http://10.0.0.7:9090'],
  ['BATON_REBALANCE_VERSION', '1.4.2'],
];

function refusal(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a refusal');
}

describe('drainOptionsFromEnv', () => {
  it('takes the documented defaults when nothing is set, and an empty variable counts as unset', () => {
    const defaults = drainOptionsFromEnv({});
    expect(defaults).toEqual({
      gracePeriodMs: 30_000,
      propagationDelayMs: 15_000,
      drainWindowMs: undefined,
      closeTimeoutMs: 5_000,
      safetyMarginMs: 2_000,
      minWindowShare: undefined,
      admission: undefined,
      admin: { port: 9090 },
      rolloutHold: undefined,
      kubernetesTimeoutMs: undefined,
      handoffKeys: undefined,
      handoffStoreUrl: undefined,
      handoffStoreCluster: false,
      handoffStoreCaFile: undefined,
      checkpointIntervalMs: 5_000,
      identity: undefined,
    });
    const empty = Object.fromEntries(DRAIN_ENV_VARIABLES.map((name) => [name, '']));
    expect(drainOptionsFromEnv(empty)).toEqual(defaults);
    expect(drainOptionsFromEnv({}, { adminPort: 9091 }).admin.port).toBe(9091);
    expect(drainOptionsFromEnv({ BATON_ROLLOUT_HOLD: 'off' }).rolloutHold).toBeUndefined();
  });

  it('reads back what drainEnvFrom writes (the lab and the tests start processes with the writer)', () => {
    const values = {
      gracePeriodMs: 120_000,
      propagationDelayMs: 30_500,
      drainWindowMs: 80_000,
      closeTimeoutMs: 4_000,
      safetyMarginMs: 1_500,
      minWindowShare: 0.25,
      admission: { maxAcceptsPerSecond: 150, burst: 20 },
      admin: { port: 9191, host: '127.0.0.1', token: SECRET },
      rolloutHold: 'kubernetes' as const,
      kubernetesTimeoutMs: 2_500,
      handoffKeys: [
        { id: 'k2', secret: SECRET },
        { id: 'k1', secret: `${SECRET}-older` },
      ],
      handoffStoreUrl: 'rediss://127.0.0.1:6379',
      handoffStoreCluster: true,
      handoffStoreCaFile: '/etc/baton/redis-ca.pem',
      checkpointIntervalMs: 0,
      identity: { pod: 'gw-6c9d-x2x7q', version: '1.4.2' },
      rebalance: { horizonMs: 90_000, peers: ['dns:gw-peers:9090', 'http://10.0.0.7:9090'], version: '1.4.2' },
    };
    const env = drainEnvFrom(values);
    expect(Object.keys(env).every((name) => (DRAIN_ENV_VARIABLES as readonly string[]).includes(name))).toBe(true);
    expect(drainOptionsFromEnv(env)).toEqual(values);
  });

  it('gives the DrainOptions the environment sets by itself, leaving out what another package builds', () => {
    const env = drainOptionsFromEnv({
      BATON_GRACE_PERIOD_SECONDS: '60',
      BATON_MIN_WINDOW_SHARE: '0.25',
      BATON_MAX_ACCEPTS_PER_SECOND: '100',
      BATON_ROLLOUT_HOLD: 'kubernetes',
      BATON_CHECKPOINT_SECONDS: '2',
    });
    expect(drainOptionsOf(env)).toEqual({
      gracePeriodMs: 60_000,
      propagationDelayMs: 15_000,
      drainWindowMs: undefined,
      closeTimeoutMs: 5_000,
      safetyMarginMs: 2_000,
      admin: { port: 9090 },
      minWindowShare: 0.25,
      admission: { maxAcceptsPerSecond: 100 },
    });
    expect(drainOptionsOf(drainOptionsFromEnv({}))).not.toHaveProperty('minWindowShare');
    expect(drainOptionsOf(drainOptionsFromEnv({}))).not.toHaveProperty('admission');
  });

  it('rebalancing: the seconds need the peers, and each peer must be an admin URL or dns:NAME:PORT', () => {
    const withoutPeers = refusal(() => drainOptionsFromEnv({ BATON_REBALANCE_SECONDS: '60' }));
    expect(withoutPeers.code).toBe('BATON_ERR_INVALID_ENV');
    expect(withoutPeers.message).toMatch(/BATON_REBALANCE_PEERS must be set with BATON_REBALANCE_SECONDS/);
    const badPeer = refusal(() =>
      drainOptionsFromEnv({ BATON_REBALANCE_SECONDS: '60', BATON_REBALANCE_PEERS: 'dns:gw-peers:9090,gw-2:9090' }),
    );
    expect(badPeer.message).toMatch(/BATON_REBALANCE_PEERS must be a list of http:\/\/host:port or dns:NAME:PORT/);
    expect(drainOptionsFromEnv({ BATON_REBALANCE_SECONDS: '0', BATON_REBALANCE_PEERS: '' }).rebalance).toBeUndefined();
    const options = drainOptionsOf(
      drainOptionsFromEnv({ BATON_REBALANCE_SECONDS: '60', BATON_REBALANCE_PEERS: 'dns:gw-peers:9090' }),
    );
    expect(options.rebalance).toEqual({ horizonMs: 60_000, peers: ['dns:gw-peers:9090'] });
  });

  it.each(INVALID)('refuses %s=%s with BATON_ERR_INVALID_ENV, naming it', (variable, value) => {
    const error = refusal(() => drainOptionsFromEnv({ [variable]: value }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.code).toBe('BATON_ERR_INVALID_ENV');
    expect(error.message).toContain(`${variable} must be`);
  });

  it("refuses a store URL that is not redis:// or rediss:// without quoting it (it may carry a password), and the store's other variables without it", () => {
    for (const url of ['http://user:s3cr3t-pass@redis:6379', 'redis-host:6379', 'not a url s3cr3t-pass']) {
      const error = refusal(() => drainOptionsFromEnv({ BATON_HANDOFF_STORE_URL: url }));
      expect(error.code).toBe('BATON_ERR_INVALID_ENV');
      expect(error.message).toContain('BATON_HANDOFF_STORE_URL must be a redis:// or rediss:// (TLS) URL');
      expect(error.message).not.toContain('s3cr3t-pass');
    }
    expect(
      refusal(() =>
        drainOptionsFromEnv({ BATON_HANDOFF_STORE_CLUSTER: 'yes', BATON_HANDOFF_STORE_URL: 'redis://r:6379' }),
      ).message,
    ).toContain('BATON_HANDOFF_STORE_CLUSTER must be "true" or "false"');
    expect(refusal(() => drainOptionsFromEnv({ BATON_HANDOFF_STORE_CLUSTER: 'true' })).message).toContain(
      'BATON_HANDOFF_STORE_CLUSTER must be set only with BATON_HANDOFF_STORE_URL',
    );
    expect(
      refusal(() =>
        drainOptionsFromEnv({ BATON_HANDOFF_STORE_URL: 'redis://r:6379', BATON_HANDOFF_STORE_CA_FILE: '/ca.pem' }),
      ).message,
    ).toContain('BATON_HANDOFF_STORE_CA_FILE must be set only with a rediss:// (TLS) BATON_HANDOFF_STORE_URL');
  });

  it('refuses a burst without a rate, and malformed or repeated handoff keys without quoting a secret', () => {
    expect(refusal(() => drainOptionsFromEnv({ BATON_ACCEPT_BURST: '10' })).message).toContain(
      'BATON_ACCEPT_BURST must be set only with BATON_MAX_ACCEPTS_PER_SECOND',
    );
    for (const keys of [`k1${SECRET}`, `k1=${SECRET},=${SECRET}`, `k1=${SECRET},k1=${SECRET}x`, `k1=`]) {
      const error = refusal(() => drainOptionsFromEnv({ BATON_HANDOFF_KEYS: keys }));
      expect(error.code).toBe('BATON_ERR_INVALID_ENV');
      expect(error.message).toContain('BATON_HANDOFF_KEYS must be');
      expect(error.message).not.toContain(SECRET);
    }
  });
});

const processes = {
  'ws-gateway': fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url)),
  'fastify-gateway': fileURLToPath(new URL('../examples/fastify-gateway/server.js', import.meta.url)),
  'baton-relay': fileURLToPath(new URL('../packages/relay/dist/cli.js', import.meta.url)),
};

/** Start `script` with `env` on ephemeral loopback ports; resolves with its exit code and its log lines. */
async function startUp(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      BATON_RELAY_UPSTREAM: 'ws://127.0.0.1:9/',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    // A process that accepted the value starts listening: stop it, the test then fails on the exit code.
    if (output.includes('"listening"')) child.kill('SIGKILL');
  });
  child.stderr.resume();
  const [code] = (await once(child, 'exit')) as [number | null];
  const lines = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; code?: string; err?: string });
  return { code, lines, output };
}

describe('every Baton process refuses the same invalid values', () => {
  it.each(Object.entries(processes))('%s: exit 2, BATON_ERR_INVALID_ENV, the variable named', async (_name, script) => {
    const cases: [string, string][] = [...INVALID, ['BATON_HANDOFF_KEYS', `k1${SECRET}`]];
    const results = await Promise.all(cases.map(([variable, value]) => startUp(script, { [variable]: value })));
    results.forEach(({ code, lines, output }, i) => {
      const [variable] = cases[i] as [string, string];
      expect(code, `${variable}: ${output}`).toBe(2);
      const refused = lines.find((line) => line.msg === 'invalid configuration');
      expect(refused?.code).toBe('BATON_ERR_INVALID_ENV');
      expect(refused?.err).toContain(variable);
      expect(output).not.toContain(SECRET);
    });
  });
});
