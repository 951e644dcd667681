// The Kubernetes kit: every manifest is valid against the Kubernetes schemas (kubernetes-models), the
// committed manifests are exactly the chart's output for its default values, and the budget they carry
// satisfies drain-core's own rule — checked by calling drain-core, not by restating it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderChart } from '../examples/kubernetes/render.js';

const chartValues = parse(
  readFileSync(fileURLToPath(new URL('../examples/kubernetes/chart/values.yaml', import.meta.url)), 'utf8'),
);
const guide = readFileSync(fileURLToPath(new URL('../docs/kubernetes.md', import.meta.url)), 'utf8');

import { DEFAULT_ADMIN_PATHS, resolveDrainBudget } from '../packages/drain-core/src/index.js';

const manifestsDir = fileURLToPath(new URL('../examples/kubernetes/manifests/', import.meta.url));
const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

type Doc = Record<string, any>;
const committed = new Map(
  readdirSync(manifestsDir).map((file) => [file, readFileSync(`${manifestsDir}${file}`, 'utf8')]),
);
const docs = (files: Map<string, string>): Doc[] => [...files.values()].map((text) => parse(text) as Doc);
const byKind = (all: Doc[], kind: string) => all.find((doc) => doc.kind === kind) as Doc;

/** The drain budget a Deployment carries, in drain-core's terms. */
function budgetOf(deployment: Doc) {
  const pod = deployment.spec.template.spec;
  const env = Object.fromEntries(
    pod.containers[0].env.filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, Number(e.value)]),
  );
  return {
    podGraceSeconds: pod.terminationGracePeriodSeconds as number,
    env,
    budget: () =>
      resolveDrainBudget({
        gracePeriodMs: env.BATON_GRACE_PERIOD_SECONDS * 1000,
        propagationDelayMs: env.BATON_PROPAGATION_SECONDS * 1000,
        closeTimeoutMs: env.BATON_CLOSE_TIMEOUT_SECONDS * 1000,
        safetyMarginMs: env.BATON_SAFETY_MARGIN_SECONDS * 1000,
      }),
  };
}

describe('examples/kubernetes', () => {
  it('has every manifest valid against the Kubernetes schemas', () => {
    const all = docs(committed);
    expect(all.map((doc) => doc.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
    for (const doc of all) {
      const Model = models[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new (Model as NonNullable<typeof Model>)(doc as never).validate()).not.toThrow();
    }
  });

  it('rejects an invalid manifest (the validation can fail)', () => {
    const deployment = structuredClone(byKind(docs(committed), 'Deployment'));
    deployment.spec.template.spec.terminationGracePeriodSeconds = 'two minutes';
    expect(() => new Deployment(deployment as never).validate()).toThrow();
  });

  it('commits exactly what the chart renders for its default values', () => {
    const rendered = renderChart();
    expect([...rendered.keys()].sort()).toEqual([...committed.keys()].sort());
    for (const [file, yaml] of rendered) {
      expect(committed.get(file)?.split('\n').slice(1).join('\n'), file).toBe(yaml);
    }
  });

  it('carries one budget: the pod grace period equals the drain grace period, and drain-core accepts it', () => {
    const deployment = byKind(docs(committed), 'Deployment');
    const { podGraceSeconds, env, budget } = budgetOf(deployment);
    expect(env.BATON_GRACE_PERIOD_SECONDS).toBe(podGraceSeconds);
    const resolved = budget();
    expect(resolved.drainWindowMs).toBeGreaterThan(0);
    // HPA drops a terminating pod's load at SIGTERM: scale-down must wait at least the drain.
    const hpa = byKind(docs(committed), 'HorizontalPodAutoscaler');
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds * 1000).toBeGreaterThanOrEqual(
      resolved.propagationDelayMs + resolved.drainWindowMs,
    );
  });

  it('an impossible budget in the values is caught by the same rule', () => {
    const rendered = renderChart({
      values: {
        drain: {
          gracePeriodSeconds: 20,
          propagationSeconds: 15,
          closeTimeoutSeconds: 5,
          safetyMarginSeconds: 2,
          minWindowShare: 0.5,
        },
      },
    });
    const { budget } = budgetOf(byKind(docs(rendered), 'Deployment'));
    expect(budget).toThrowError(expect.objectContaining({ code: 'BATON_ERR_BUDGET' }));
  });

  it('wires the drain the way drain-core serves it, and never exposes the admin port', () => {
    const all = docs(committed);
    const deployment = byKind(all, 'Deployment');
    const spec = deployment.spec;
    expect(spec.strategy.rollingUpdate).toEqual({ maxSurge: '100%', maxUnavailable: 0 });
    expect(spec.replicas).toBeUndefined();
    const container = spec.template.spec.containers[0];
    // preStop execs baton-drain inside the container (loopback), from the repository root the image runs in.
    const [node, script, ...args] = container.lifecycle.preStop.exec.command as string[];
    expect([node, args]).toEqual(['node', []]);
    expect(existsSync(fileURLToPath(new URL(`../${script}`, import.meta.url))), script).toBe(true);
    expect(container.env.map((e: Doc) => e.name)).toContain('ADMIN_PORT');
    expect(container.readinessProbe.httpGet).toEqual({ path: DEFAULT_ADMIN_PATHS.readiness, port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: DEFAULT_ADMIN_PATHS.liveness, port: 'admin' });
    const service = byKind(all, 'Service');
    expect(service.spec.externalTrafficPolicy).toBe('Local');
    expect(service.spec.ports.map((port: Doc) => port.targetPort)).toEqual(['ws']);
    // The admin port is reachable only from scraper namespaces; the ws port from anywhere.
    const policy = byKind(all, 'NetworkPolicy');
    const byPort = (name: string) =>
      policy.spec.ingress.find((rule: Doc) => rule.ports.some((port: Doc) => port.port === name));
    expect(byPort('ws').from).toBeUndefined();
    expect(byPort('admin').from).toEqual([{ namespaceSelector: { matchLabels: { 'baton-metrics-scraper': 'true' } } }]);
  });

  it('keeps accepting at least as long as the cloud LB needs to notice a node without serving pods', () => {
    // The guide documents GKE's passthrough LB health check (8 s × 3 failures); the chart states the same
    // numbers, and its propagation delay must not be shorter than that detection time.
    const { intervalSeconds, unhealthyThreshold } = chartValues.loadBalancer.healthCheck;
    expect(guide).toContain(`every ${intervalSeconds} s, unhealthy after ${unhealthyThreshold}`);
    const deployment = byKind(docs(committed), 'Deployment');
    const { env } = budgetOf(deployment);
    expect(env.BATON_PROPAGATION_SECONDS).toBeGreaterThanOrEqual(intervalSeconds * unhealthyThreshold);
  });

  it('gives the rollout hold its pod identity and read-only access to pods, nothing more', () => {
    const all = docs(committed);
    const deployment = byKind(all, 'Deployment');
    const pod = deployment.spec.template.spec;
    const env = Object.fromEntries(pod.containers[0].env.map((e: Doc) => [e.name, e]));
    expect(env.BATON_ROLLOUT_HOLD.value).toBe('kubernetes');
    expect(env.POD_NAME.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.POD_NAMESPACE.valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    const serviceAccount = byKind(all, 'ServiceAccount');
    expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
    const role = byKind(all, 'Role');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const binding = byKind(all, 'RoleBinding');
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: serviceAccount.metadata.name }]);
  });
});
