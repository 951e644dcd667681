// The lab cluster's pods as the Kubernetes API would show them: v1 Pod objects with a resourceVersion per
// change and a bounded change history for watches. Every object is checked against the Pod schema of
// kubernetes-models before it is stored, so what @baton/kubernetes reads has the real API's shape.
//
// Deliberate difference from a real API server: timestamps carry milliseconds (a real metav1.Time has whole
// seconds), because the lab compresses time tenfold and a second would be a tenth of a drain window.

import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';

export const LAB_NAMESPACE = 'lab';
export const APP_LABEL = 'baton-lab-gateway';

export interface PodSpecInput {
  name: string;
  version: string;
  /** terminationGracePeriodSeconds, in ms. */
  graceMs: number;
  nodeName?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly resourceVersion: number;
  readonly type: WatchEventType;
  readonly object: Record<string, unknown>;
}

interface StoredPod {
  input: PodSpecInput;
  uid: string;
  createdAt: number;
  readyAt: number | undefined;
  deletedAt: number | undefined;
  resourceVersion: number;
}

/** A stand-in for the Deployment controller's ComputeHash of a pod template: stable per version, in its alphabet. */
export function templateHash(version: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789'; // rand.SafeEncodeString's alphabet: no vowels, no 0/1/3
  const digest = createHash('sha256').update(version).digest();
  return Array.from(digest.subarray(0, 10), (byte) => alphabet[byte % alphabet.length]).join('');
}

export class PodStore extends EventEmitter<{ event: [WatchEvent] }> {
  readonly #pods = new Map<string, StoredPod>();
  readonly #history: WatchEvent[] = [];
  readonly #historyLimit: number;
  #resourceVersion = 1;
  /** Watches from a resourceVersion older than this get 410 Gone. */
  #oldestKept = 1;

  constructor(options: { historyLimit?: number } = {}) {
    super();
    this.#historyLimit = options.historyLimit ?? 10_000;
  }

  get resourceVersion(): number {
    return this.#resourceVersion;
  }

  get oldestResourceVersion(): number {
    return this.#oldestKept;
  }

  create(input: PodSpecInput): void {
    this.#pods.set(input.name, {
      input,
      uid: randomUUID(),
      createdAt: Date.now(),
      readyAt: undefined,
      deletedAt: undefined,
      resourceVersion: 0,
    });
    this.#record('ADDED', input.name);
  }

  markReady(name: string): void {
    const pod = this.#pods.get(name);
    if (!pod || pod.readyAt !== undefined) return;
    pod.readyAt = Date.now();
    this.#record('MODIFIED', name);
  }

  /** A graceful delete: deletionTimestamp = now + grace period, as the API server sets it. */
  markDeleted(name: string): void {
    const pod = this.#pods.get(name);
    if (!pod || pod.deletedAt !== undefined) return;
    pod.deletedAt = Date.now();
    this.#record('MODIFIED', name);
  }

  /** The kubelet confirmed the containers are gone: the object leaves the API. */
  remove(name: string): void {
    if (!this.#pods.has(name)) return;
    this.#record('DELETED', name);
    this.#pods.delete(name);
  }

  get(name: string): Record<string, unknown> | undefined {
    const pod = this.#pods.get(name);
    return pod ? this.#object(pod) : undefined;
  }

  list(): Record<string, unknown>[] {
    return [...this.#pods.values()].map((pod) => this.#object(pod));
  }

  /** Changes after `resourceVersion`, or undefined when the history no longer reaches back that far (410). */
  since(resourceVersion: number): WatchEvent[] | undefined {
    if (resourceVersion < this.#oldestKept - 1) return undefined;
    return this.#history.filter((event) => event.resourceVersion > resourceVersion);
  }

  /** Forget the history, as etcd compaction does: watches from older versions get 410 Gone. */
  compact(): void {
    this.#history.length = 0;
    this.#oldestKept = this.#resourceVersion + 1;
  }

  #record(type: WatchEventType, name: string): void {
    const pod = this.#pods.get(name) as StoredPod;
    pod.resourceVersion = ++this.#resourceVersion;
    const event: WatchEvent = { resourceVersion: pod.resourceVersion, type, object: this.#object(pod) };
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      this.#oldestKept = (dropped[dropped.length - 1] as WatchEvent).resourceVersion + 1;
    }
    this.emit('event', event);
  }

  #object(pod: StoredPod): Record<string, unknown> {
    const { input } = pod;
    const hash = templateHash(input.version);
    const iso = (ms: number) => new Date(ms).toISOString();
    const ready = pod.readyAt !== undefined;
    const object = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: input.name,
        namespace: LAB_NAMESPACE,
        uid: pod.uid,
        resourceVersion: String(pod.resourceVersion),
        creationTimestamp: iso(pod.createdAt),
        labels: { app: APP_LABEL, 'pod-template-hash': hash },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: `${APP_LABEL}-${hash}`,
            uid: `replicaset-${hash}`,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
        ...(pod.deletedAt !== undefined
          ? {
              deletionTimestamp: iso(pod.deletedAt + input.graceMs),
              deletionGracePeriodSeconds: Math.ceil(input.graceMs / 1000),
            }
          : {}),
      },
      spec: {
        containers: [{ name: 'gateway', image: `baton-lab/gateway:${input.version}` }],
        terminationGracePeriodSeconds: Math.ceil(input.graceMs / 1000),
        ...(input.nodeName ? { nodeName: input.nodeName } : {}),
      },
      status: {
        phase: 'Running',
        podIP: '127.0.0.1',
        startTime: iso(pod.createdAt),
        conditions: [
          {
            type: 'Ready',
            status: ready ? 'True' : 'False',
            lastTransitionTime: iso(pod.readyAt ?? pod.createdAt),
          },
        ],
      },
    };
    // Throws on anything the real Pod schema would reject: the lab must not teach a client a shape it never sees.
    new PodModel(object as never).validate();
    return object;
  }
}
