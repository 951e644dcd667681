// The lab's emulation of the small part of the Kubernetes API that @baton/kubernetes uses — not an API
// server: get one pod; list and watch pods of a namespace by an equality label selector, in the API's JSON
// and watch-event format (newline-delimited {type, object}), with resourceVersions and 410 Gone for a watch
// older than the kept history (an ERROR event carrying a Status, as the watch cache sends it). Bearer-token
// auth answers 401 like the API server; `forbid` answers 403 like RBAC; `latencyMs` slows every answer;
// `dropWatches()` cuts every watch connection mid-stream. Loopback only.
//
// For `baton-probe check --live`, it also serves read-only lists of other objects put in `objects` (Deployments,
// Services, HPAs, PDBs, Roles, Nodes, Argo Rollouts, BackendConfigs…) at their API paths (the collection path
// from apiVersion and the plural of the kind, as the API server's REST mapping has it), a GET of one DaemonSet,
// and `/version`. A custom resource's collection answers 404 (not served) unless an object of its kind is there,
// as a cluster without that CRD does. No field selectors, no label selectors, no watches on these.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_NAMESPACE, type PodStore, type WatchEvent } from './pod-store.js';

export interface KubeApiControls {
  /** Answer every request with 403 Forbidden (a Role without get/list/watch on pods). */
  forbid: boolean;
  /** Delay before every answer, ms (an overloaded API server). */
  latencyMs: number;
}

export class KubeApi {
  readonly controls: KubeApiControls = { forbid: false, latencyMs: 0 };
  /** Other objects, served read-only (see the header). */
  readonly objects: Record<string, unknown>[] = [];
  /** What GET /version answers as gitVersion. */
  gitVersion = 'v1.31.4-lab';
  /** Requests served, by kind: what the hold costs the API. */
  readonly requests = { get: 0, list: 0, watch: 0 };
  readonly token = randomBytes(24).toString('base64url');
  readonly #server: Server;
  readonly #watches = new Set<ServerResponse>();
  readonly #sockets = new Set<Socket>();
  #kubeconfigPath: string | undefined;
  /** Where the gateways reach this API: loopback, or an address inside the kernel data path's node namespace. */
  #reachAt: { host: string; port: number } | undefined;

  constructor(readonly store: PodStore) {
    this.#server = createServer((request, response) => {
      void this.#handle(request, response);
    });
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this.port;
  }

  /**
   * Also serve the connections `listener` accepts (a listening socket opened inside another network namespace,
   * whose gateways cannot reach this process's loopback); the kubeconfig then points at `host`:its port.
   */
  serveOn(listener: NetServer, host: string): void {
    if (this.#kubeconfigPath) throw new Error('serveOn() must come before kubeconfig()');
    listener.on('connection', (socket) => this.#server.emit('connection', socket));
    this.#reachAt = { host, port: (listener.address() as AddressInfo).port };
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** A kubeconfig (JSON is YAML) that points a client at this API with its token; written once. */
  kubeconfig(): string {
    if (this.#kubeconfigPath) return this.#kubeconfigPath;
    const path = join(tmpdir(), `baton-lab-kubeconfig-${process.pid}-${this.port}.json`);
    const { host, port } = this.#reachAt ?? { host: '127.0.0.1', port: this.port };
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP on loopback: the official client refuses http:// unless TLS verification is off.
      clusters: [{ name: 'lab', cluster: { server: `http://${host}:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'lab', user: { token: this.token } }],
      contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'lab', namespace: LAB_NAMESPACE } }],
      'current-context': 'lab',
    };
    writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
    this.#kubeconfigPath = path;
    return path;
  }

  /** A list or a GET of the read-only objects, or undefined when the path is not one of theirs. */
  #objectsAt(path: string): { code: number; body: unknown } | undefined {
    const found = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    if (!found) return undefined;
    const [, group, version, namespace, plural, name] = found;
    const apiVersion = group ? `${group}/${version}` : 'v1';
    const kind = Object.entries(PLURALS).find(([, p]) => p === plural)?.[0];
    if (!kind || (kind === 'Pod' && apiVersion === 'v1')) return undefined;
    const inCollection = this.objects.filter(
      (object) =>
        object.apiVersion === apiVersion &&
        object.kind === kind &&
        (namespace === undefined ||
          (object.metadata as { namespace?: string } | undefined)?.namespace === decodeURIComponent(namespace)),
    );
    const served =
      BUILT_IN.has(kind) || this.objects.some((object) => object.kind === kind && object.apiVersion === apiVersion);
    if (!served)
      return { code: 404, body: statusObject(404, 'NotFound', 'the server could not find the requested resource') };
    if (name) {
      const one = inCollection.find(
        (object) => (object.metadata as { name?: string } | undefined)?.name === decodeURIComponent(name),
      );
      return one
        ? { code: 200, body: one }
        : { code: 404, body: statusObject(404, 'NotFound', `${plural} "${name}" not found`) };
    }
    return { code: 200, body: { apiVersion, kind: `${kind}List`, metadata: {}, items: inCollection } };
  }

  /** Cut every open watch as a dropped connection would: no final chunk, the socket destroyed. */
  dropWatches(): void {
    for (const response of this.#watches) response.socket?.destroy();
    this.#watches.clear();
  }

  async close(): Promise<void> {
    if (this.#kubeconfigPath) rmSync(this.#kubeconfigPath, { force: true });
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.controls.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.controls.latencyMs));
    if (request.headers.authorization !== `Bearer ${this.token}`) {
      return status(response, 401, 'Unauthorized', 'Unauthorized');
    }
    const url = new URL(request.url ?? '/', 'http://lab');
    if (request.method === 'GET' && url.pathname === '/version') {
      return json(response, 200, {
        major: '1',
        minor: this.gitVersion.split('.')[1] ?? '',
        gitVersion: this.gitVersion,
      });
    }
    const objects = request.method === 'GET' ? this.#objectsAt(url.pathname) : undefined;
    if (objects) return json(response, objects.code, objects.body);
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
    if (request.method !== 'GET' || !match) {
      return status(response, 404, 'NotFound', 'the lab API serves only GET on /api/v1/namespaces/{ns}/pods');
    }
    const [, namespace, name] = match;
    if (this.controls.forbid) {
      const verb = name ? 'get' : url.searchParams.get('watch') === 'true' ? 'watch' : 'list';
      return status(
        response,
        403,
        'Forbidden',
        `pods is forbidden: User "system:serviceaccount:${namespace}:default" cannot ${verb} resource "pods" in API group "" in the namespace "${namespace}"`,
      );
    }
    if (namespace !== LAB_NAMESPACE) {
      if (name) return status(response, 404, 'NotFound', `pods "${name}" not found`);
      return json(response, 200, podList([], this.store.resourceVersion));
    }
    if (name) {
      this.requests.get++;
      const pod = this.store.get(decodeURIComponent(name));
      return pod ? json(response, 200, pod) : status(response, 404, 'NotFound', `pods "${name}" not found`);
    }
    let selector: (labels: Record<string, string>) => boolean;
    try {
      selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
    } catch (error) {
      return status(response, 400, 'BadRequest', String((error as Error).message));
    }
    const matches = (object: Record<string, unknown>) =>
      selector(((object.metadata as { labels?: Record<string, string> }).labels ?? {}) as Record<string, string>);
    if (url.searchParams.get('watch') !== 'true') {
      this.requests.list++;
      return json(response, 200, podList(this.store.list().filter(matches), this.store.resourceVersion));
    }
    this.requests.watch++;
    this.#watch(url, response, matches);
  }

  #watch(url: URL, response: ServerResponse, matches: (object: Record<string, unknown>) => boolean): void {
    const from = url.searchParams.get('resourceVersion');
    response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // The API server answers a watch at once; a client waits for these headers before it counts as watching.
    response.flushHeaders();
    const send = (event: { type: string; object: unknown }) => response.write(`${JSON.stringify(event)}\n`);
    let backlog: { type: string; object: Record<string, unknown> }[];
    if (from === null || from === '' || from === '0') {
      // No resourceVersion: start at the current state, as synthetic ADDED events.
      backlog = this.store.list().map((object) => ({ type: 'ADDED', object }));
    } else {
      const since = this.store.since(Number(from));
      if (since === undefined) {
        send({
          type: 'ERROR',
          object: statusObject(
            410,
            'Expired',
            `too old resource version: ${from} (${this.store.oldestResourceVersion - 1})`,
          ),
        });
        response.end();
        return;
      }
      backlog = since;
    }
    for (const event of backlog) if (matches(event.object)) send(event);
    const onEvent = (event: WatchEvent) => {
      if (matches(event.object)) send({ type: event.type, object: event.object });
    };
    this.store.on('event', onEvent);
    this.#watches.add(response);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds'));
    const timer =
      timeoutSeconds > 0 ? setTimeout(() => response.end(), Math.min(timeoutSeconds, 1800) * 1000) : undefined;
    response.on('close', () => {
      clearTimeout(timer);
      this.store.off('event', onEvent);
      this.#watches.delete(response);
    });
  }
}

/** The plural (the REST resource) of each kind served, as the API server's REST mapping names it. */
const PLURALS: Record<string, string> = {
  Pod: 'pods',
  Deployment: 'deployments',
  DaemonSet: 'daemonsets',
  ReplicaSet: 'replicasets',
  Service: 'services',
  Node: 'nodes',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Ingress: 'ingresses',
  Rollout: 'rollouts',
  BackendConfig: 'backendconfigs',
  HTTPRoute: 'httproutes',
  GCPBackendPolicy: 'gcpbackendpolicies',
};

/** Kinds every cluster serves; the others (custom resources) only when their CRD is installed. */
const BUILT_IN = new Set([
  'Deployment',
  'DaemonSet',
  'ReplicaSet',
  'Service',
  'Node',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'Role',
  'RoleBinding',
  'Ingress',
]);

/** Equality-based selectors only (`a=b,c==d`): what @baton/kubernetes sends. */
function parseSelector(text: string): (labels: Record<string, string>) => boolean {
  const requirements = text
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const found = /^\s*([A-Za-z0-9._/-]+)\s*==?\s*([A-Za-z0-9._-]*)\s*$/.exec(part);
      if (!found) throw new Error(`unable to parse requirement: ${JSON.stringify(part)} (the lab API takes a=b only)`);
      return [found[1] as string, found[2] as string] as const;
    });
  return (labels) => requirements.every(([key, value]) => labels[key] === value);
}

function podList(items: Record<string, unknown>[], resourceVersion: number) {
  return { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(resourceVersion) }, items };
}

function statusObject(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function status(response: ServerResponse, code: number, reason: string, message: string): void {
  json(response, code, statusObject(code, reason, message));
}

function json(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
