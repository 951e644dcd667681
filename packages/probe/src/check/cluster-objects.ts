// `baton-probe check --live`: the same objects, read from the cluster the kubeconfig names (read-only GETs, one
// per kind, the namespace's), and the facts the manifests cannot carry: the API server's version, and the
// dataplane (GKE Dataplane V2 runs the anetd DaemonSet in kube-system). A kind the cluster does not serve (no
// Argo Rollouts, no BackendConfig CRD: 404) or the caller may not read (403) is left out and said so.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../cluster/kubeconfig.js';
import { ProbeError, ProbeErrorCodes } from '../errors.js';
import type { ClusterFacts } from './gateway-view.js';
import { type KObject, list, str } from './objects.js';

/** Each kind the rules read, where it lives (namespaced unless noted). */
const KINDS: { kind: string; path: (namespace: string) => string }[] = [
  { kind: 'Deployment', path: (ns) => `/apis/apps/v1/namespaces/${ns}/deployments` },
  { kind: 'Rollout', path: (ns) => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts` },
  { kind: 'Service', path: (ns) => `/api/v1/namespaces/${ns}/services` },
  { kind: 'HorizontalPodAutoscaler', path: (ns) => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers` },
  { kind: 'PodDisruptionBudget', path: (ns) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets` },
  { kind: 'Role', path: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles` },
  { kind: 'RoleBinding', path: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings` },
  { kind: 'Ingress', path: (ns) => `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses` },
  { kind: 'BackendConfig', path: (ns) => `/apis/cloud.google.com/v1/namespaces/${ns}/backendconfigs` },
  { kind: 'HTTPRoute', path: (ns) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes` },
  { kind: 'GCPBackendPolicy', path: (ns) => `/apis/networking.gke.io/v1/namespaces/${ns}/gcpbackendpolicies` },
  { kind: 'Node', path: () => '/api/v1/nodes' },
];

export interface ClusterRead {
  readonly objects: KObject[];
  readonly facts: ClusterFacts;
  readonly namespace: string;
  /** Kinds left out, and why (not served, not allowed). */
  readonly unread: string[];
}

export async function readCluster(options: {
  kubeconfig?: string;
  namespace?: string;
  timeoutMs?: number;
}): Promise<ClusterRead> {
  const { config, namespace } = loadKubeConfig(options);
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new ProbeError(ProbeErrorCodes.KUBERNETES, 'the kubeconfig names no cluster');
  const get = (path: string) => getJson(config, server, path, options.timeoutMs ?? 10_000);

  const version = await get('/version');
  if (version.status !== 200) {
    throw new ProbeError(
      ProbeErrorCodes.KUBERNETES,
      `the API server at ${server} answered ${version.status} to GET /version: check the kubeconfig's credentials`,
    );
  }
  const objects: KObject[] = [];
  const unread: string[] = [];
  for (const { kind, path } of KINDS) {
    const answer = await get(path(encodeURIComponent(namespace)));
    if (answer.status !== 200) {
      unread.push(
        `${kind} (${answer.status === 404 ? 'not served' : answer.status === 403 ? 'forbidden' : `HTTP ${answer.status}`})`,
      );
      continue;
    }
    for (const item of list((answer.body as { items?: unknown }).items)) {
      // List items carry no kind; the list says it.
      objects.push({ ...(item as Record<string, unknown>), kind });
    }
  }
  const anetd = await get('/apis/apps/v1/namespaces/kube-system/daemonsets/anetd');
  const gitVersion = str((version.body as { gitVersion?: unknown }).gitVersion);
  return {
    objects,
    namespace,
    unread,
    facts: {
      ...(gitVersion ? { kubernetesVersion: gitVersion } : {}),
      ...(anetd.status === 200
        ? { dataplane: 'v2' as const }
        : anetd.status === 404
          ? { dataplane: 'kube-proxy' as const }
          : {}),
    },
  };
}

async function getJson(
  config: KubeConfig,
  server: string,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, server);
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await config.applyToHTTPSOptions(options);
  const secure = url.protocol === 'https:';
  if (!secure) delete options.agent;
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    request.setTimeout(timeoutMs, () =>
      request.destroy(new Error(`no answer from the API server within ${timeoutMs} ms`)),
    );
    request.on('error', (error) =>
      reject(new ProbeError(ProbeErrorCodes.KUBERNETES, `cannot reach the API server at ${server}: ${error.message}`)),
    );
    request.end();
  });
}
