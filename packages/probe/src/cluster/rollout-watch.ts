// What the probe sees of the cluster while it measures: the pods of one label selector, listed then watched
// (read-only: get/list/watch on pods is all it needs), turned into the rollout's events — a pod created, ready,
// terminating (its deletionTimestamp set), deleted — each with the ReplicaSet that owns it. The report puts
// them on the time line and labels each reconnect with whether its pod was terminating then.
// Follows @kubernetes/client-node's informer (list, then watch from the list's resourceVersion).

import { CoreV1Api, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { ProbeError, ProbeErrorCodes } from '../errors.js';
import type { RolloutEvent } from '../figures/probe-run.js';
import { loadKubeConfig } from './kubeconfig.js';

export interface RolloutWatchOptions {
  /** A kubeconfig file; default: KUBECONFIG, ~/.kube/config, or the pod's service account (in-cluster). */
  kubeconfig?: string;
  /** Default: the kubeconfig context's namespace, else "default". */
  namespace?: string;
  /** An equality label selector, e.g. app.kubernetes.io/name=ws-gateway. */
  selector: string;
  /** How long the first list may take before the probe gives up. Default 10 s. */
  timeoutMs?: number;
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function replicaSetOf(pod: V1Pod): string {
  return pod.metadata?.ownerReferences?.find((owner) => owner.kind === 'ReplicaSet')?.name ?? '';
}

export class RolloutWatch {
  readonly events: RolloutEvent[] = [];
  /** Watch errors after the start (the informer retries; the events may then have a gap). */
  readonly errors: string[] = [];
  readonly #seen = new Map<string, { ready: boolean; terminating: boolean }>();
  readonly #stop: () => Promise<void>;

  private constructor(stop: () => Promise<void>) {
    this.#stop = stop;
  }

  static async start(options: RolloutWatchOptions): Promise<RolloutWatch> {
    const { config, namespace } = loadKubeConfig(options);
    const api = config.makeApiClient(CoreV1Api);
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
    const list = () => api.listNamespacedPod({ namespace, labelSelector: options.selector });
    // One list first, bounded, so that a wrong cluster, a missing Role or a bad selector fails at once.
    const timeoutMs = options.timeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        list(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      throw new ProbeError(
        ProbeErrorCodes.KUBERNETES,
        `cannot list pods ${options.selector} in namespace ${namespace}: ${describeApiError(error)}`,
      );
    } finally {
      clearTimeout(timer);
    }
    const informer = makeInformer<V1Pod>(config, path, list, options.selector);
    let stopped = false;
    const watch = new RolloutWatch(async () => {
      stopped = true;
      await informer.stop();
    });
    informer.on('add', (pod) => watch.#observe(pod, false));
    informer.on('update', (pod) => watch.#observe(pod, false));
    informer.on('delete', (pod) => watch.#observe(pod, true));
    informer.on('error', (error: unknown) => {
      if (stopped) return;
      watch.errors.push(describeApiError(error));
      // The client's convention: restart after a pause; it resumes from its resourceVersion.
      setTimeout(() => {
        if (!stopped) void informer.start();
      }, 1_000).unref();
    });
    await informer.start();
    return watch;
  }

  #observe(pod: V1Pod, deleted: boolean): void {
    const name = pod.metadata?.name;
    if (!name) return;
    const replicaSet = replicaSetOf(pod);
    const push = (type: RolloutEvent['type']) => this.events.push({ at: Date.now(), type, pod: name, replicaSet });
    let seen = this.#seen.get(name);
    if (!seen) {
      seen = { ready: false, terminating: false };
      this.#seen.set(name, seen);
      push('created');
    }
    if (!seen.ready && isReady(pod)) {
      seen.ready = true;
      push('ready');
    }
    if (!seen.terminating && (pod.metadata?.deletionTimestamp || deleted)) {
      seen.terminating = true;
      push('terminating');
    }
    if (deleted) push('deleted');
  }

  stop(): Promise<void> {
    return this.#stop();
  }
}

function describeApiError(error: unknown): string {
  const e = error as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === 'number')
    return `HTTP ${e.code}${typeof e.body === 'string' ? ` ${e.body.slice(0, 200)}` : ''}`;
  return e?.message ?? String(error);
}
