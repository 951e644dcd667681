// @baton/kubernetes, the real package on the official client, against the lab's emulation of the pod API
// (packages/lab/src/cluster/kube-api.ts): the hold during a rollout, no hold on a scale-down, 403, an unreachable or
// slow API, a watch dropped mid-hold (and a compacted history: 410 Gone), and a hold capped by the budget.

import { once } from 'node:events';
import { createServer } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DrainController, type RolloutHoldContext, type RolloutHoldResult } from '../packages/drain-core/src/index.js';
import { kubernetesRolloutHold } from '../packages/kubernetes/src/index.js';
import { KubeApi, PodStore } from '../packages/lab/src/harness/index.js';
import { useCleanups } from './support/cleanups.js';
import { openClients } from './support/clients.js';
import { startWsServer } from './support/servers.js';

const cleanups = useCleanups();
const GRACE_MS = 30_000;
const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A lab API with a Deployment mid-rollout: v1 pods a, b, c ready; v2 pod x ready. */
async function cluster(options: { newPods?: boolean } = {}) {
  const store = new PodStore();
  const api = new KubeApi(store);
  await api.listen();
  cleanups.push(() => api.close());
  for (const name of ['a', 'b', 'c']) {
    store.create({ name, version: 'v1', graceMs: GRACE_MS });
    store.markReady(name);
  }
  if (options.newPods !== false) {
    store.create({ name: 'x', version: 'v2', graceMs: GRACE_MS });
    store.markReady('x');
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(api.kubeconfig());
  return { store, api, kubeConfig };
}

function context(capInMs = 60_000) {
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const value: RolloutHoldContext = { signal: abort.signal, capAt: Date.now() + capInMs, logger: silentLogger };
  return { value, abort };
}

/** Settles with the hook's answer, or 'pending' when the API has answered every request so far. */
function track(promise: Promise<RolloutHoldResult>) {
  let result: RolloutHoldResult | undefined;
  void promise.then((value) => {
    result = value;
  });
  return () => result;
}

/**
 * A round trip through the API after everything so far: the watch stream carries every change made before
 * this GET is sent, so once its answer is back the hook has read those changes (a check before any I/O could
 * happen would pass whatever the hook does).
 */
async function roundTrip(kubeConfig: KubeConfig): Promise<void> {
  await kubeConfig.makeApiClient(CoreV1Api).readNamespacedPod({ name: 'a', namespace: 'lab' });
  await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once the API has served `count` watch requests in total (the informer is watching). */
async function watching(api: KubeApi, count = 1): Promise<void> {
  while (api.requests.watch < count) await new Promise((resolve) => setImmediate(resolve));
}

describe('@baton/kubernetes rollout hold against the lab API', () => {
  it('holds while pods of its own ReplicaSet serve, and releases when they all terminate', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    const hold = kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig });
    const answer = hold(context().value);
    const settled = track(answer);
    await watching(api);
    await roundTrip(kubeConfig);
    expect(settled()).toBeUndefined();
    store.markDeleted('b');
    // b's deletion is on the watch stream before the round trip's GET is even sent. c still serves: the hold stays.
    await roundTrip(kubeConfig);
    expect(settled()).toBeUndefined();
    store.markDeleted('c');
    const result = await answer;
    expect(result).toMatchObject({ outcome: 'peers-terminating' });
    // The group's deadline is the earliest deletionTimestamp: a's, deleted first.
    const a = store.get('a') as { metadata: { deletionTimestamp: string } };
    expect(result.outcome === 'peers-terminating' && result.groupDeadlineAt).toBe(
      Date.parse(a.metadata.deletionTimestamp),
    );
    // One get of its own pod (the other two are this test's round trips), one list, one watch: the whole API
    // cost of a hold.
    expect(api.requests).toEqual({ get: 3, list: 1, watch: 1 });
  });

  it('answers no-rollout at once on a scale-down (no other ReplicaSet)', async () => {
    const { store, kubeConfig } = await cluster({ newPods: false });
    store.markDeleted('a');
    const result = await kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig })(context().value);
    expect(result).toMatchObject({ outcome: 'no-rollout' });
  });

  it('answers unknown with BATON_ERR_KUBERNETES_FORBIDDEN on 403, without retrying', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    api.controls.forbid = true;
    const result = await kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig })(context().value);
    expect(result).toEqual({ outcome: 'unknown', reason: 'BATON_ERR_KUBERNETES_FORBIDDEN' });
  });

  it('answers unknown with BATON_ERR_KUBERNETES_UNREACHABLE when the API cannot be reached', async () => {
    // A port that was just free and is closed again: connection refused.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromClusterAndUser(
      { name: 'gone', server: `http://127.0.0.1:${port}`, skipTLSVerify: true },
      { name: 'user' },
    );
    const started = Date.now();
    const result = await kubernetesRolloutHold({
      podName: 'a',
      namespace: 'lab',
      kubeConfig,
      retryDelayMs: 50,
      giveUpAfterMs: 400,
    })(context().value);
    expect(result).toEqual({ outcome: 'unknown', reason: 'BATON_ERR_KUBERNETES_UNREACHABLE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('answers unknown with BATON_ERR_KUBERNETES_TIMEOUT when the API is slower than requestTimeoutMs', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    api.controls.latencyMs = 1_000;
    const result = await kubernetesRolloutHold({
      podName: 'a',
      namespace: 'lab',
      kubeConfig,
      requestTimeoutMs: 100,
      retryDelayMs: 50,
      giveUpAfterMs: 300,
    })(context().value);
    expect(result).toEqual({ outcome: 'unknown', reason: 'BATON_ERR_KUBERNETES_TIMEOUT' });
  });

  it('keeps holding across a watch dropped mid-hold, and sees the changes made while it was down', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    const answer = kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig, retryDelayMs: 50 })(
      context().value,
    );
    const settled = track(answer);
    await watching(api);
    api.dropWatches();
    store.markDeleted('b');
    // The informer restarts from its resourceVersion: the backlog replays b's deletion (c still serves, so the
    // hold stays), then c's arrives live.
    await watching(api, 2);
    await roundTrip(kubeConfig);
    expect(settled()).toBeUndefined();
    store.markDeleted('c');
    expect(await answer).toMatchObject({ outcome: 'peers-terminating' });
  });

  it('re-lists after 410 Gone when the history was compacted while the watch was down', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    const answer = kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig, retryDelayMs: 50 })(
      context().value,
    );
    await watching(api);
    api.dropWatches();
    store.markDeleted('b');
    store.markDeleted('c');
    store.compact();
    expect(await answer).toMatchObject({ outcome: 'peers-terminating' });
    expect(api.requests.list).toBe(2);
  });

  it('refuses a missing pod name or configuration at start-up with a coded error', () => {
    const saved = { POD_NAME: process.env.POD_NAME, KUBECONFIG: process.env.KUBECONFIG };
    try {
      delete process.env.POD_NAME;
      expect(() => kubernetesRolloutHold({ namespace: 'lab', kubeConfig: new KubeConfig() })).toThrow(
        expect.objectContaining({ code: 'BATON_ERR_KUBERNETES_CONFIG', message: expect.stringMatching(/POD_NAME/) }),
      );
      expect(() => kubernetesRolloutHold({ podName: 'a', namespace: 'lab', requestTimeoutMs: -1 })).toThrow(
        expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION' }),
      );
      expect(() => kubernetesRolloutHold({ podName: 'a', namespace: 'lab', typo: 1 } as never)).toThrow(
        expect.objectContaining({ code: 'BATON_ERR_INVALID_OPTION', message: expect.stringMatching(/typo/) }),
      );
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('drives a DrainController: closes wait for the ReplicaSet, and a hold that never ends is capped by the budget', async () => {
    const { store, api, kubeConfig } = await cluster();
    store.markDeleted('a');
    const server = await startWsServer('server');
    const controller = new DrainController({
      gracePeriodMs: 10_000,
      propagationDelayMs: 200,
      drainWindowMs: 1_600,
      closeTimeoutMs: 400,
      safetyMarginMs: 100,
      minWindowShare: 0.5,
      signals: false,
      rolloutHold: kubernetesRolloutHold({ podName: 'a', namespace: 'lab', kubeConfig }),
    });
    controller.attach(server.wss);
    cleanups.push(
      () => server.close(),
      () => controller.destroy(),
    );
    const clients = await openClients(server.url, 20);
    const t0 = Date.now();
    const report = await controller.drain({ trigger: 'signal' });
    const closes = await Promise.all(clients.map((client) => client.closed));
    // b and c never terminated: the hold ran to its cap (t0 + 200 + 800) and the rest of the window was used.
    expect(report.hold).toMatchObject({ outcome: 'capped' });
    for (const close of closes) expect(close.at).toBeGreaterThanOrEqual(t0 + 1_000 - 5);
    // The aborted hold stopped its watch: no connection to the API is left open.
    expect(api.requests.watch).toBe(1);
    await new Promise<void>((resolve) => {
      const check = () => (store.listenerCount('event') === 0 ? resolve() : setImmediate(check));
      check();
    });
  });
});
