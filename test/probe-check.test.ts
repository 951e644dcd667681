// baton-probe check: every golden render of the chart passes; realistic broken variants of it fail with the
// rule that explains them; the CLI reads manifests from files and standard input and exits 0 / 1 / 2; and
// --live reads the same objects from the lab's emulated API (read-only lists; an emulation, not an API server —
// packages/lab/README.md), the served objects validated against the Kubernetes schemas (kubernetes-models).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Node } from 'kubernetes-models/v1/Node';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { KubeApi, LAB_NAMESPACE, PodStore } from '../packages/lab/src/harness/index.js';
import { checkObjects } from '../packages/probe/src/check/check.js';
import type { ClusterFacts } from '../packages/probe/src/check/gateway-view.js';
import { readManifests } from '../packages/probe/src/check/manifests.js';
import type { KObject } from '../packages/probe/src/check/objects.js';
import { RULES } from '../packages/probe/src/check/rules.js';
import { useCleanups } from './support/cleanups.js';

const cleanups = useCleanups();
const cli = fileURLToPath(new URL('../packages/probe/dist/cli.js', import.meta.url));
const goldenDir = fileURLToPath(new URL('../examples/kubernetes/golden/', import.meta.url));
const goldens = readdirSync(goldenDir).filter((file) => file.endsWith('.yaml'));
const golden = (file: string) => readManifests(readFileSync(join(goldenDir, file), 'utf8'), file);

// biome-ignore lint/suspicious/noExplicitAny: fixtures are broken by hand, field by field.
type Mutable = Record<string, any>;
/** A deep copy of a golden's objects, to break one thing in. */
const copy = (objects: KObject[]): Mutable[] => JSON.parse(JSON.stringify(objects));
const find = (objects: Mutable[], kind: string, nameEnds = '') =>
  objects.find((object) => object.kind === kind && String(object.metadata?.name).endsWith(nameEnds)) as Mutable;
const gatewayContainer = (workload: Mutable) => workload.spec.template.spec.containers[0] as Mutable;
const setEnv = (container: Mutable, name: string, value: string) => {
  const entry = container.env.find((e: Mutable) => e.name === name);
  if (entry) entry.value = value;
  else container.env.push({ name, value });
};

/** The failures of a check, as "rule: object". */
function failures(objects: KObject[], facts: ClusterFacts = {}, severity: 'error' | 'warning' = 'error') {
  return checkObjects(objects, facts)
    .findings.filter((f) => f.outcome === 'fail' && f.severity === severity)
    .map((f) => `${f.rule}: ${f.object}`);
}

describe('baton-probe check on the chart', () => {
  it.each(goldens)('passes the golden render %s: no error, and every rule ran on every Baton workload', (file) => {
    const report = checkObjects(golden(file), { dataplane: 'kube-proxy', kubernetesVersion: '1.31' });
    expect(report.passed).toBe(true);
    expect(report.workloads.length).toBeGreaterThan(0);
    const ran = new Set(report.findings.map((f) => f.rule));
    for (const rule of RULES) expect(ran).toContain(rule.code);
    expect(report.findings.filter((f) => f.outcome === 'fail' && f.severity === 'error')).toEqual([]);
  });

  it('fails a grace period below the drain budget (grace-budget)', () => {
    const objects = copy(golden('default-values.yaml'));
    find(objects, 'Deployment').spec.template.spec.terminationGracePeriodSeconds = 60;
    expect(failures(objects)).toEqual(['grace-budget: Deployment/ws-gateway']);
    // And an impossible budget: propagation + close + margin above the grace period.
    const impossible = copy(golden('default-values.yaml'));
    setEnv(gatewayContainer(find(impossible, 'Deployment')), 'BATON_PROPAGATION_SECONDS', '200');
    const report = checkObjects(impossible);
    expect(report.findings.find((f) => f.rule === 'grace-budget')?.detail).toMatch(/Impossible drain budget/);
  });

  it('fails a pod without the baton-drain preStop, or with an httpGet one (prestop)', () => {
    const none = copy(golden('default-values.yaml'));
    delete gatewayContainer(find(none, 'Deployment')).lifecycle;
    expect(failures(none)).toEqual(['prestop: Deployment/ws-gateway']);
    const http = copy(golden('default-values.yaml'));
    gatewayContainer(find(http, 'Deployment')).lifecycle = { preStop: { httpGet: { path: '/drain', port: 'admin' } } };
    expect(checkObjects(http).findings.find((f) => f.rule === 'prestop')?.detail).toMatch(/httpGet.*403/);
  });

  it("fails a propagation delay below the LB's detection time with ETP Local (propagation)", () => {
    // 20 s against a target pool's 8 s × 3 (the chart's Service asks for a backend service: not this one).
    const targetPool = copy(golden('default-values.yaml'));
    setEnv(gatewayContainer(find(targetPool, 'Deployment')), 'BATON_PROPAGATION_SECONDS', '20');
    expect(failures(targetPool)).toEqual([]);
    delete find(targetPool, 'Service').metadata.annotations;
    expect(failures(targetPool)).toEqual(['propagation: Service/ws-gateway']);
    // And the LB kind itself: a target pool with ETP Local is a warning of its own.
    expect(failures(targetPool, {}, 'warning')).toEqual(['lb-kind: Service/ws-gateway']);
    expect(failures(targetPool, { lbKind: 'backend-service' }, 'warning')).toEqual([]);
    // 5 s against a backend service's 3 s × 2 (the RBS annotation says which kind).
    const rbs = copy(golden('default-values.yaml'));
    setEnv(gatewayContainer(find(rbs, 'Deployment')), 'BATON_PROPAGATION_SECONDS', '5');
    find(rbs, 'Service').metadata.annotations = { 'cloud.google.com/l4-rbs': 'enabled' };
    expect(failures(rbs)).toEqual(['propagation: Service/ws-gateway']);
    expect(checkObjects(rbs).findings.find((f) => f.rule === 'propagation')?.detail).toMatch(/3 s × 2 = 6 s/);
    // 7 s is enough for it, not for a target pool (assumed when the annotation is absent).
    setEnv(gatewayContainer(find(rbs, 'Deployment')), 'BATON_PROPAGATION_SECONDS', '7');
    expect(failures(rbs)).toEqual([]);
    delete find(rbs, 'Service').metadata.annotations;
    expect(failures(rbs)).toEqual(['propagation: Service/ws-gateway']);
    expect(failures(rbs, { lbKind: 'backend-service' })).toEqual([]);
  });

  it('fails Argo blue/green with scaleDownDelaySeconds 0 (argo-scale-down), and on Dataplane V2 (dataplane-flip)', () => {
    const objects = copy(golden('argo-values.yaml'));
    find(objects, 'Rollout').spec.strategy.blueGreen.scaleDownDelaySeconds = 0;
    expect(failures(objects, { dataplane: 'kube-proxy' })).toEqual(['argo-scale-down: Rollout/ws-gateway']);
    expect(failures(golden('argo-values.yaml'), { dataplane: 'v2' })).toEqual(['dataplane-flip: Rollout/ws-gateway']);
  });

  it('fails a GKE Ingress whose backend timeoutSec is 30 s, or that has no BackendConfig at all (backend-timeout)', () => {
    const objects = copy(golden('relay-ready-values.yaml'));
    const service = find(objects, 'Service');
    service.metadata.annotations = { 'cloud.google.com/backend-config': '{"default": "ws"}' };
    const backendConfig = {
      apiVersion: 'cloud.google.com/v1',
      kind: 'BackendConfig',
      metadata: { name: 'ws' },
      spec: { timeoutSec: 30 },
    };
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'ws' },
      spec: { defaultBackend: { service: { name: service.metadata.name, port: { number: 80 } } } },
    };
    expect(failures([...objects, backendConfig, ingress])).toEqual([
      `backend-timeout: Service/${service.metadata.name}`,
    ]);
    expect(failures([...objects, ingress])).toEqual([`backend-timeout: Service/${service.metadata.name}`]);
    backendConfig.spec.timeoutSec = 86_400;
    expect(failures([...objects, backendConfig, ingress])).toEqual([]);
    // The Gateway API: a route to the Service, and its GCPBackendPolicy.
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'ws' },
      spec: { rules: [{ backendRefs: [{ name: service.metadata.name, port: 80 }] }] },
    };
    const policy = {
      apiVersion: 'networking.gke.io/v1',
      kind: 'GCPBackendPolicy',
      metadata: { name: 'ws' },
      spec: { default: { timeoutSec: 3600 }, targetRef: { group: '', kind: 'Service', name: service.metadata.name } },
    };
    expect(failures([...objects, route])).toEqual([`backend-timeout: Service/${service.metadata.name}`]);
    expect(failures([...objects, route, policy])).toEqual([]);
  });

  it('fails readiness off the admin port, a hold without RBAC or pod identity, and Kubernetes before 1.26 with ETP Local', () => {
    const readiness = copy(golden('default-values.yaml'));
    gatewayContainer(find(readiness, 'Deployment')).readinessProbe.httpGet.path = '/healthz';
    expect(failures(readiness)).toEqual(['readiness: Deployment/ws-gateway']);
    const rbac = copy(golden('default-values.yaml'));
    find(rbac, 'Role').rules[0].verbs = ['get', 'list'];
    expect(failures(rbac)).toEqual(['rollout-hold: Deployment/ws-gateway']);
    const identity = copy(golden('default-values.yaml'));
    const container = gatewayContainer(find(identity, 'Deployment'));
    container.env = container.env.filter((e: Mutable) => e.name !== 'POD_NAME');
    expect(failures(identity)).toEqual(['rollout-hold: Deployment/ws-gateway']);
    expect(failures(golden('default-values.yaml'), { kubernetesVersion: 'v1.25.16-gke.1000' })).toEqual([
      'kubernetes-version: Deployment/ws-gateway',
    ]);
  });

  it('warns (exit still 0) on a partial surge, an averaged External HPA metric, no PDB, spot nodes', () => {
    const objects = copy(golden('default-values.yaml'));
    find(objects, 'Deployment').spec.strategy.rollingUpdate = { maxSurge: '25%', maxUnavailable: '25%' };
    find(objects, 'HorizontalPodAutoscaler').spec.metrics.push({
      type: 'External',
      external: { metric: { name: 'ws_connections' }, target: { type: 'AverageValue', averageValue: '1000' } },
    });
    const withoutPdb = objects.filter((object) => object.kind !== 'PodDisruptionBudget');
    const spotNode = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1', labels: { 'cloud.google.com/gke-spot': 'true' } },
    };
    const report = checkObjects([...withoutPdb, spotNode]);
    expect(report.passed).toBe(true);
    expect(failures([...withoutPdb, spotNode], {}, 'warning').sort()).toEqual(
      [
        'hpa-terminating: HorizontalPodAutoscaler/ws-gateway',
        'pdb: Deployment/ws-gateway',
        'spot: Deployment/ws-gateway',
        'surge: Deployment/ws-gateway',
      ].sort(),
    );
  });

  it('finds no Baton workload in objects without one, and does not pass', () => {
    const report = checkObjects(golden('default-values.yaml').filter((object) => object.kind !== 'Deployment'));
    expect(report).toMatchObject({ passed: false, workloads: [] });
  });
});

function runCli(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(stdin ?? '');
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

describe('baton-probe check (the CLI)', () => {
  it('reads helm template output on standard input: 0 and a table; a broken render: 1, the rule and its guide', async () => {
    const good = await runCli(
      ['check', '-f', '-', '--dataplane', 'kube-proxy'],
      readFileSync(join(goldenDir, 'default-values.yaml'), 'utf8'),
    );
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^ok +grace-budget +Deployment\/ws-gateway/m);
    expect(good.stdout).toMatch(/passed: Deployment\/ws-gateway/);
    const broken = readFileSync(join(goldenDir, 'argo-values.yaml'), 'utf8').replace(
      /scaleDownDelaySeconds: \d+/,
      'scaleDownDelaySeconds: 0',
    );
    const bad = await runCli(['check', '-f', '-', '--json'], broken);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.passed).toBe(false);
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        rule: 'argo-scale-down',
        outcome: 'fail',
        severity: 'error',
        guide: 'https://github.com/baton-ws/baton/blob/main/docs/check.md#argo-scale-down',
      }),
    );
  });

  it('reads several files; refuses bad usage with 2 and a coded message', async () => {
    const files = ['-f', join(goldenDir, 'relay-values.yaml'), '-f', join(goldenDir, 'default-values.yaml')];
    expect((await runCli(['check', ...files])).code).toBe(0);
    // --workload: that one only (the relay's file also holds the gateway; both are named ws-gateway*).
    const one = JSON.parse(
      (await runCli(['check', '--json', '--workload', 'Deployment/ws-gateway-relay', ...files])).stdout,
    );
    expect(one.workloads).toEqual(['Deployment/ws-gateway-relay']);
    const none = await runCli(['check', '--workload', 'Rollout/absent', ...files]);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/No Baton workload found/);
    for (const [args, message] of [
      [['check'], /needs -f FILE/],
      [['check', '-f', '/nonexistent.yaml'], /cannot read \/nonexistent.yaml/],
      [['check', '-f', '-', '--dataplane', 'calico'], /--dataplane must be v2/],
      [['check', '-f', '-', '--live'], /either -f FILE/],
      [['check', '-f', '-', '--bogus'], /unknown flag --bogus/],
      [['check', '-f', '-', '--workload', 'Service/x'], /--workload must be Deployment\/NAME or Rollout\/NAME/],
    ] as const) {
      const result = await runCli([...args], 'kind: [unclosed');
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('BATON_ERR_PROBE_USAGE');
    }
    const notYaml = await runCli(['check', '-f', '-'], 'kind: [unclosed');
    expect(notYaml.code).toBe(2);
    expect(notYaml.stderr).toMatch(/standard input is not YAML or JSON/);
  });

  it("--live reads the namespace from the API (the lab's emulation): the same verdicts, the version and the dataplane from the cluster", async () => {
    const api = new KubeApi(new PodStore());
    await api.listen();
    cleanups.push(() => api.close());
    const inLab = (object: Mutable) => ({ ...object, metadata: { ...object.metadata, namespace: LAB_NAMESPACE } });
    const argo = copy(golden('argo-values.yaml')).map(inLab);
    const anetd = new DaemonSet({
      metadata: { name: 'anetd', namespace: 'kube-system' },
      spec: {
        selector: { matchLabels: { k8s_app: 'cilium' } },
        template: {
          metadata: { labels: { k8s_app: 'cilium' } },
          spec: { containers: [{ name: 'cilium-agent', image: 'cilium' }] },
        },
      },
    });
    const node = new Node({ metadata: { name: 'gke-pool-1', labels: { 'cloud.google.com/gke-nodepool': 'pool-1' } } });
    for (const model of [anetd, node]) model.validate();
    // The golden's Services and Rollout are already validated by test/kubernetes.test.ts; these two here too.
    new Service(find(argo, 'Service') as never).validate();
    api.objects.push(...argo, anetd.toJSON(), node.toJSON());
    api.gitVersion = 'v1.31.4-gke.1000';
    const live = await runCli(['check', '--live', '--kubeconfig', api.kubeconfig(), '--json']);
    expect(live.stderr).toMatch(/not read from namespace .*BackendConfig \(not served\)/);
    expect(live.code).toBe(1);
    const report = JSON.parse(live.stdout);
    expect(report.workloads).toEqual(['Rollout/ws-gateway']);
    // Read from the cluster: Dataplane V2 (anetd runs) makes the blue/green flip fail; the version passes.
    expect(report.findings).toContainEqual(expect.objectContaining({ rule: 'dataplane-flip', outcome: 'fail' }));
    expect(report.findings).toContainEqual(
      expect.objectContaining({ rule: 'kubernetes-version', outcome: 'pass', detail: 'Kubernetes v1.31.4-gke.1000' }),
    );
    // The flag wins over what the cluster was read as; without anetd the dataplane is kube-proxy.
    expect(
      (await runCli(['check', '--live', '--kubeconfig', api.kubeconfig(), '--dataplane', 'kube-proxy'])).code,
    ).toBe(0);
    api.objects.splice(
      api.objects.findIndex((object) => object.kind === 'DaemonSet'),
      1,
    );
    expect((await runCli(['check', '--live', '--kubeconfig', api.kubeconfig()])).code).toBe(0);
    // A Deployment as the API would return it validates too (kubernetes-models).
    new Deployment(find(copy(golden('default-values.yaml')), 'Deployment') as never).validate();
    // A kubeconfig whose token the API refuses: 2, coded, and the token never printed.
    const wrong = join(tmpdir(), `baton-check-wrong-${process.pid}.json`);
    writeFileSync(wrong, readFileSync(api.kubeconfig(), 'utf8').replace(api.token, 'not-the-token'));
    cleanups.push(() => rmSync(wrong, { force: true }));
    const denied = await runCli(['check', '--live', '--kubeconfig', wrong]);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/answered 401 to GET \/version.*BATON_ERR_PROBE_KUBERNETES/);
    expect(denied.stderr).not.toContain(api.token);
  });
});
