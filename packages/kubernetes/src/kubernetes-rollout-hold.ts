// The source of drain-core's rollout-aware hold on Kubernetes. At the start of a terminating drain (never
// before: no API load while serving) it reads its own pod, then lists and watches the pods of its Deployment
// and answers:
//  - no-rollout: no other ReplicaSet of the Deployment has live pods (an HPA scale-down, a node drain);
//  - peers-terminating: every pod of its own ReplicaSet is terminating or gone, with the earliest kill deadline
//    among them (the group's window then ends together);
//  - unknown, with a coded reason: the API refused (401/403), or stayed unreachable or slow for giveUpAfterMs.
// Watches follow @kubernetes/client-node's ListWatch conventions: a closed watch resumes from its
// resourceVersion, 410 Gone re-lists, an error restarts the informer after retryDelayMs.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RolloutHold, RolloutHoldContext, RolloutHoldResult } from '@baton/drain-core';
import { CoreV1Api, KubeConfig, makeInformer, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import { codedError, codeOfApiFailure, ErrorCodes, isPermanent } from './errors.js';
import { type HoldGroup, type HoldSubject, holdStep } from './hold-decision.js';
import { deploymentSelector, hashLabelOf } from './pod-view.js';

export interface KubernetesRolloutHoldOptions {
  /** This pod's name. Default: env POD_NAME (downward API `metadata.name`). */
  podName?: string;
  /** This pod's namespace. Default: env POD_NAMESPACE, then the ServiceAccount's namespace file. */
  namespace?: string;
  /** Default: loaded in the client's default order (KUBECONFIG, ~/.kube/config, in-cluster ServiceAccount). */
  kubeConfig?: KubeConfig;
  /** The label that names a pod's ReplicaSet. Default: pod-template-hash, or rollouts-pod-template-hash. */
  hashLabel?: string;
  /** One list or get may take this long before it counts as failed. Default 5000. */
  requestTimeoutMs?: number;
  /** Wait between restarts of a failed list or watch. Default 1000. */
  retryDelayMs?: number;
  /** How long failures may last in a row before the hold answers `unknown`. Default 10000. */
  giveUpAfterMs?: number;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const KNOWN_OPTIONS: Record<keyof KubernetesRolloutHoldOptions, true> = {
  podName: true,
  namespace: true,
  kubeConfig: true,
  hashLabel: true,
  requestTimeoutMs: true,
  retryDelayMs: true,
  giveUpAfterMs: true,
};

/** Build the hook for DrainController's `rolloutHold` option. Throws a coded error when misconfigured. */
export function kubernetesRolloutHold(options: KubernetesRolloutHoldOptions = {}): RolloutHold {
  const config = resolveOptions(options);
  return (context) => holdFor(config, context);
}

interface ResolvedOptions {
  podName: string;
  namespace: string;
  kubeConfig: KubeConfig;
  hashLabel: string | undefined;
  requestTimeoutMs: number;
  retryDelayMs: number;
  giveUpAfterMs: number;
}

function resolveOptions(options: KubernetesRolloutHoldOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw codedError(TypeError, ErrorCodes.INVALID_OPTION, 'The options must be an object.');
  }
  for (const key of Object.keys(options)) {
    if (!(key in KNOWN_OPTIONS)) {
      throw codedError(
        TypeError,
        ErrorCodes.INVALID_OPTION,
        `Unknown option "${key}". Known options: ${Object.keys(KNOWN_OPTIONS).join(', ')}.`,
      );
    }
  }
  const podName = nonEmpty('podName', options.podName ?? process.env.POD_NAME);
  const namespace = nonEmpty('namespace', options.namespace ?? process.env.POD_NAMESPACE ?? serviceAccountNamespace());
  if (podName === undefined || namespace === undefined) {
    throw codedError(
      Error,
      ErrorCodes.CONFIG,
      'The rollout hold needs the pod name and namespace: set POD_NAME and POD_NAMESPACE from the downward API ' +
        '(fieldRef metadata.name and metadata.namespace), or pass podName and namespace.',
    );
  }
  if (options.hashLabel !== undefined && (typeof options.hashLabel !== 'string' || options.hashLabel === '')) {
    throw codedError(TypeError, ErrorCodes.INVALID_OPTION, 'The "hashLabel" option must be a non-empty label key.');
  }
  const requestTimeoutMs = duration('requestTimeoutMs', options.requestTimeoutMs, 5_000);
  const retryDelayMs = duration('retryDelayMs', options.retryDelayMs, 1_000);
  const giveUpAfterMs = duration('giveUpAfterMs', options.giveUpAfterMs, 10_000);
  let kubeConfig = options.kubeConfig;
  if (kubeConfig === undefined) {
    if (!hasDefaultConfig()) {
      throw codedError(
        Error,
        ErrorCodes.CONFIG,
        'No Kubernetes configuration found: set KUBECONFIG, or run in a pod whose ServiceAccount token is mounted ' +
          '(automountServiceAccountToken must not be false).',
      );
    }
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
  } else if (!(kubeConfig instanceof KubeConfig)) {
    throw codedError(TypeError, ErrorCodes.INVALID_OPTION, 'The "kubeConfig" option must be a KubeConfig.');
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw codedError(Error, ErrorCodes.CONFIG, 'The Kubernetes configuration has no current cluster.');
  }
  return {
    podName,
    namespace,
    kubeConfig,
    hashLabel: options.hashLabel,
    requestTimeoutMs,
    retryDelayMs,
    giveUpAfterMs,
  };
}

function nonEmpty(name: string, value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    throw codedError(TypeError, ErrorCodes.INVALID_OPTION, `The "${name}" option must be a string.`);
  }
  return value;
}

function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw codedError(
      RangeError,
      ErrorCodes.INVALID_OPTION,
      `The "${name}" option must be a number of milliseconds between 1 and ${2 ** 31 - 1}.`,
    );
  }
  return value;
}

function serviceAccountNamespace(): string | undefined {
  try {
    return readFileSync(join(SERVICE_ACCOUNT_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The sources KubeConfig.loadFromDefault reads, minus its last resort (http://localhost:8080). */
function hasDefaultConfig(): boolean {
  if (process.env.KUBECONFIG) return true;
  const files = [join(homedir(), '.kube', 'config'), join(SERVICE_ACCOUNT_DIR, 'token')];
  return files.some((file) => {
    try {
      readFileSync(file);
      return true;
    } catch {
      return false;
    }
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(codedError(Error, ErrorCodes.TIMEOUT, `The Kubernetes API did not answer within ${ms} ms.`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function holdFor(config: ResolvedOptions, context: RolloutHoldContext): Promise<RolloutHoldResult> {
  const api = config.kubeConfig.makeApiClient(CoreV1Api);
  const own = await readOwnPod(config, context, api);
  if ('outcome' in own) return own;
  const hashLabel = hashLabelOf(own.pod, config.hashLabel);
  const ownHash = hashLabel ? own.pod.metadata?.labels?.[hashLabel] : undefined;
  if (!hashLabel || ownHash === undefined) {
    return { outcome: 'no-rollout', reason: 'the pod carries no ReplicaSet hash label (not managed by a Deployment)' };
  }
  const selector = deploymentSelector(own.pod, hashLabel);
  if (selector === '') return { outcome: 'unknown', reason: ErrorCodes.BAD_RESPONSE };
  return watchUntilDecided(config, context, api, selector, { podName: config.podName, hashLabel, ownHash });
}

/** Our own pod (its labels say which Deployment and ReplicaSet we belong to), retried like the watch. */
async function readOwnPod(
  config: ResolvedOptions,
  context: RolloutHoldContext,
  api: CoreV1Api,
): Promise<{ pod: V1Pod } | RolloutHoldResult> {
  const started = Date.now();
  for (;;) {
    try {
      const pod = await withTimeout(
        api.readNamespacedPod({ name: config.podName, namespace: config.namespace }),
        config.requestTimeoutMs,
      );
      return { pod };
    } catch (error) {
      const code = codeOfApiFailure(error);
      if (isPermanent(code) || Date.now() - started >= config.giveUpAfterMs || context.signal.aborted) {
        return { outcome: 'unknown', reason: code };
      }
      await delay(config.retryDelayMs, context.signal);
    }
  }
}

/**
 * List and watch the Deployment's pods (an informer), judging each complete view with holdStep() until it
 * decides; failures restart the informer after retryDelayMs until they have lasted giveUpAfterMs (or at once
 * for a permanent one: 401, 403).
 */
function watchUntilDecided(
  config: ResolvedOptions,
  context: RolloutHoldContext,
  api: CoreV1Api,
  selector: string,
  subject: HoldSubject,
): Promise<RolloutHoldResult> {
  const { namespace } = config;
  return new Promise<RolloutHoldResult>((resolve) => {
    // The informer fires 'add' per listed item as it fills its cache: only a complete list is judged (a failed
    // re-list leaves the last complete view, which the watch keeps up to date when it resumes).
    let listed = false;
    let listing = false;
    let decided = false;
    let group: HoldGroup | undefined;
    let failingSince: number | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    const informer = makeInformer<V1Pod>(
      config.kubeConfig,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      async () => {
        listing = true;
        try {
          const list: V1PodList = await withTimeout(
            api.listNamespacedPod({ namespace, labelSelector: selector }),
            config.requestTimeoutMs,
          );
          failingSince = undefined;
          setImmediate(() => {
            listing = false;
            listed = true;
            evaluate();
          });
          return list;
        } catch (error) {
          listing = false;
          throw error;
        }
      },
      selector,
    );
    const finish = (result: RolloutHoldResult) => {
      if (decided) return;
      decided = true;
      clearTimeout(retryTimer);
      context.signal.removeEventListener('abort', onAbort);
      void informer.stop();
      resolve(result);
    };
    const onAbort = () => finish({ outcome: 'unknown', reason: 'aborted' });
    const evaluate = () => {
      if (decided || !listed || listing) return;
      const step = holdStep(informer.list(namespace), subject, group);
      if ('decided' in step) finish(step.decided);
      else group = step.group;
    };
    const onChange = () => {
      failingSince = undefined;
      evaluate();
    };
    informer.on('add', onChange);
    informer.on('update', onChange);
    informer.on('delete', onChange);
    informer.on('error', (error: unknown) => {
      if (decided) return;
      const code = codeOfApiFailure(error);
      failingSince ??= Date.now();
      if (isPermanent(code) || Date.now() - failingSince >= config.giveUpAfterMs) {
        finish({ outcome: 'unknown', reason: code });
        return;
      }
      // The client's convention: restart the informer after a pause; it resumes from its resourceVersion.
      retryTimer = setTimeout(() => {
        if (!decided) void informer.start();
      }, config.retryDelayMs);
    });
    context.signal.addEventListener('abort', onAbort, { once: true });
    if (context.signal.aborted) onAbort();
    else void informer.start();
  });
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
