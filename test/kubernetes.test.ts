// The Kubernetes kit, with real Helm: Helm 3.17 and Helm 4.1 (scripts/install-helm.mjs, from npm packages)
// lint the chart strictly and render it for every values file in chart/ci/; the output must equal the
// committed golden files (UPDATE_GOLDEN=1 rewrites them) and every object must validate against the
// Kubernetes schemas (kubernetes-models, the Argo Rollouts and prometheus-operator models). Invalid values
// must fail to render with a message that says what to set. The budget the chart renders is checked with
// drain-core's own rule, and the image (examples/ws-gateway/Dockerfile) against the chart.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AnalysisTemplate } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate';
import { Rollout } from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { workersFrom } from '../examples/gateway-common/pod.js';
import { DEFAULT_ADMIN_PATHS, drainOptionsFromEnv, resolveDrainBudget } from '../packages/drain-core/src/index.js';
import { HELMS, helmPath } from '../scripts/install-helm.mjs';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const kit = join(root, 'examples/kubernetes');
const chart = join(kit, 'chart');
const goldenDir = join(kit, 'golden');
const chartValues = parse(readFileSync(join(chart, 'values.yaml'), 'utf8'));
const guide = readFileSync(join(root, 'docs/kubernetes.md'), 'utf8');
const valuesFiles = readdirSync(join(chart, 'ci')).sort();

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, checked field by field below.
type Doc = Record<string, any>;

const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'argoproj.io/v1alpha1/Rollout': Rollout,
  'argoproj.io/v1alpha1/AnalysisTemplate': AnalysisTemplate,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

function helm(version: string): string {
  const path = helmPath(version);
  if (!existsSync(path)) throw new Error(`Helm ${version} is missing at ${path}: run ./scripts/setup.sh`);
  return path;
}

async function template(version: string, valuesFile: string): Promise<string> {
  const { stdout } = await run(helm(version), [
    'template',
    'ws-gateway',
    chart,
    '--namespace',
    'gateway',
    '-f',
    valuesFile,
  ]);
  return stdout;
}

/** The default values file with one value set on the command line (Helm 4). */
function templateDefaultsWith(set: string) {
  return run(helm('4.1.4'), ['template', 'x', chart, '-f', join(chart, 'ci/default-values.yaml'), '--set', set]);
}

const documents = (yaml: string): Doc[] =>
  parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as Doc | null)
    .filter((doc): doc is Doc => doc !== null);
const byKind = (all: Doc[], kind: string) => all.find((doc) => doc.kind === kind) as Doc;
const renders = new Map<string, Doc[]>();
async function rendered(valuesFile: string): Promise<Doc[]> {
  if (!renders.has(valuesFile))
    renders.set(valuesFile, documents(await template('4.1.4', join(chart, 'ci', valuesFile))));
  return renders.get(valuesFile) as Doc[];
}

/** The drain budget a workload carries, in drain-core's terms. */
function budgetOf(workload: Doc) {
  const pod = workload.spec.template.spec;
  const env = Object.fromEntries(
    pod.containers[0].env.filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, Number(e.value)]),
  );
  return {
    podGraceSeconds: pod.terminationGracePeriodSeconds as number,
    env,
    budget: resolveDrainBudget({
      gracePeriodMs: env.BATON_GRACE_PERIOD_SECONDS * 1000,
      propagationDelayMs: env.BATON_PROPAGATION_SECONDS * 1000,
      closeTimeoutMs: env.BATON_CLOSE_TIMEOUT_SECONDS * 1000,
      safetyMarginMs: env.BATON_SAFETY_MARGIN_SECONDS * 1000,
      drainWindowMs: env.BATON_DRAIN_WINDOW_SECONDS === undefined ? undefined : env.BATON_DRAIN_WINDOW_SECONDS * 1000,
    }),
  };
}

describe.each(HELMS.map((h) => h.version))('the chart with Helm %s', (version) => {
  it.each(valuesFiles)('lints strictly with %s', async (valuesFile) => {
    const { stdout } = await run(helm(version), ['lint', '--strict', chart, '-f', join(chart, 'ci', valuesFile)]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it.each(valuesFiles)('renders %s exactly as the golden file', async (valuesFile) => {
    const output = await template(version, join(chart, 'ci', valuesFile));
    const golden = join(goldenDir, valuesFile);
    // Rewriting under CI would compare the output with itself: CI always compares with the committed files.
    if (process.env.UPDATE_GOLDEN && process.env.CI) throw new Error('UPDATE_GOLDEN is refused under CI');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, output);
    expect(output).toBe(readFileSync(golden, 'utf8'));
  });

  it.each([
    [
      'impossible-budget.yaml',
      'Impossible drain budget: drain.gracePeriodSeconds (30) leaves no drain window',
      'Raise drain.gracePeriodSeconds above 37',
    ],
    ['no-handoff-key.yaml', 'Set handoff.keys', 'or handoff.existingSecret'],
    ['placeholder-key.yaml', 'handoff.keys looks like a placeholder', 'openssl rand -base64 32'],
    ['analysis-without-image.yaml', 'rollout.analysis.image is required', 'npm install -g @baton/probe'],
    [
      'analysis-longer-than-scale-down.yaml',
      'rollout.analysis.durationSeconds (90) must be shorter than rollout.scaleDownDelaySeconds (60)',
      'Argo cancels a post-promotion AnalysisRun',
    ],
    ['workers-with-rebalancing.yaml', 'workers (4) needs rebalance.seconds 0', 'Set rebalance.seconds=0, or workers=1'],
  ])('refuses to render %s, saying what to set', async (valuesFile, reason, remedy) => {
    const failure = await template(version, join(kit, 'invalid-values', valuesFile)).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain(reason);
    expect(failure).toContain(remedy);
  });
});

describe('the rendered objects', () => {
  it.each(valuesFiles)(
    'validate against the Kubernetes, Argo Rollouts and prometheus-operator schemas (%s)',
    async (valuesFile) => {
      for (const doc of await rendered(valuesFile)) {
        if (doc.apiVersion === 'monitoring.googleapis.com/v1') {
          // GKE's PodMonitoring has no published model: its required shape, per the GMP API reference.
          expect(doc.kind).toBe('PodMonitoring');
          expect(doc.spec.selector.matchLabels).toBeDefined();
          expect(doc.spec.endpoints[0]).toMatchObject({ port: 'admin', path: '/metrics' });
          continue;
        }
        const Model = models[`${doc.apiVersion}/${doc.kind}`];
        expect(Model, `${doc.apiVersion} ${doc.kind}`).toBeDefined();
        expect(
          () => new (Model as NonNullable<typeof Model>)(doc as never).validate(),
          `${doc.kind} ${doc.metadata.name}`,
        ).not.toThrow();
      }
    },
  );

  it('rejects an invalid object (the validation can fail)', async () => {
    const deployment = structuredClone(byKind(await rendered('default-values.yaml'), 'Deployment'));
    deployment.spec.template.spec.terminationGracePeriodSeconds = 'two minutes';
    expect(() => new Deployment(deployment as never).validate()).toThrow();
  });

  it.each(valuesFiles)('carry one budget that drain-core accepts (%s)', async (valuesFile) => {
    const all = await rendered(valuesFile);
    const workload = byKind(all, 'Deployment') ?? byKind(all, 'Rollout');
    const { podGraceSeconds, env, budget } = budgetOf(workload);
    expect(env.BATON_GRACE_PERIOD_SECONDS).toBe(podGraceSeconds);
    expect(budget.drainWindowMs).toBeGreaterThan(0);
    // HPA drops a terminating pod's load at SIGTERM: scale-down must wait at least the drain.
    const hpa = byKind(all, 'HorizontalPodAutoscaler');
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds * 1000).toBeGreaterThanOrEqual(
      budget.propagationDelayMs + budget.drainWindowMs,
    );
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: workload.kind, name: workload.metadata.name });
  });

  it('keeps accepting at least as long as the cloud LB needs to notice a node without serving pods', async () => {
    // The guide documents GKE's passthrough LB health check (8 s × 3 failures); the chart states the same
    // numbers, and refuses a shorter propagation delay at render time.
    const { intervalSeconds, unhealthyThreshold } = chartValues.loadBalancer.healthCheck;
    expect(guide).toContain(`every ${intervalSeconds} s, unhealthy after ${unhealthyThreshold}`);
    const { env } = budgetOf(byKind(await rendered('default-values.yaml'), 'Deployment'));
    expect(env.BATON_PROPAGATION_SECONDS).toBeGreaterThanOrEqual(intervalSeconds * unhealthyThreshold);
    const failure = await templateDefaultsWith('drain.propagationSeconds=10').then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain('Raise drain.propagationSeconds to at least 24');
  });

  it('wires the drain as drain-core serves it, runs locked down, and never exposes the admin port', async () => {
    const all = await rendered('default-values.yaml');
    const deployment = byKind(all, 'Deployment');
    const spec = deployment.spec;
    expect(spec.strategy.rollingUpdate).toEqual({ maxSurge: '100%', maxUnavailable: 0 });
    expect(spec.replicas).toBeUndefined();
    const pod = spec.template.spec;
    const container = pod.containers[0];
    // preStop execs baton-drain inside the container (loopback), from the image's working directory: the
    // deployed examples/ws-gateway.
    const [node, script, ...args] = container.lifecycle.preStop.exec.command as string[];
    expect([node, args]).toEqual(['node', []]);
    expect(existsSync(join(root, 'examples/ws-gateway', script as string)), script).toBe(true);
    expect(container.readinessProbe.httpGet).toEqual({ path: DEFAULT_ADMIN_PATHS.readiness, port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: DEFAULT_ADMIN_PATHS.liveness, port: 'admin' });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // The root is read-only; drain-core writes its drain proof to /tmp, where the preStop exec reads it.
    // (And the rollout hold's API credentials, which the defaults turn on: see its own test.)
    expect(container.volumeMounts[0]).toEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(container.volumeMounts.map((mount: Doc) => mount.name)).toEqual(['tmp', 'kube-api-access']);
    expect(pod.volumes[0]).toEqual({ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect(pod.volumes.map((volume: Doc) => volume.name)).toEqual(['tmp', 'kube-api-access']);
    expect(spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('false');
    expect(spec.template.metadata.annotations['baton.dev/handoff-keys-revision']).toBe('1');
    expect(pod.topologySpreadConstraints.map((c: Doc) => c.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    const service = byKind(all, 'Service');
    expect(service.spec.externalTrafficPolicy).toBe('Local');
    expect(service.spec.ports.map((port: Doc) => port.targetPort)).toEqual(['ws']);
    const policy = byKind(all, 'NetworkPolicy');
    const byPort = (name: string) =>
      policy.spec.ingress.find((rule: Doc) => rule.ports.some((port: Doc) => port.port === name));
    expect(byPort('ws').from).toBeUndefined();
    expect(byPort('admin').from).toEqual([
      { namespaceSelector: { matchLabels: { 'baton-metrics-scraper': 'true' } } },
      // Rebalancing (on by default): the fleet's own pods read each other's status.
      { podSelector: { matchLabels: deployment.spec.selector.matchLabels } },
    ]);
  });

  it("rebalancing: the pods find each other through a headless Service of their own, read with drain-core's contract; off at 0", async () => {
    const all = await rendered('default-values.yaml');
    const deployment = byKind(all, 'Deployment');
    const env = Object.fromEntries(
      (deployment.spec.template.spec.containers[0].env as Doc[])
        .filter((e) => 'value' in e)
        .map((e) => [e.name, e.value]),
    );
    const peers = all.find((doc) => doc.kind === 'Service' && doc.metadata.name.endsWith('-peers')) as Doc;
    expect(peers.spec.clusterIP).toBe('None');
    expect(peers.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(peers.spec.ports).toEqual([
      { name: 'admin', port: chartValues.ports.admin, targetPort: 'admin', protocol: 'TCP' },
    ]);
    // What the gateway reads: drain-core's own parser accepts it, peers = the headless Service on the admin port.
    const contract = drainOptionsFromEnv(env);
    expect(contract.rebalance).toEqual({
      horizonMs: chartValues.rebalance.seconds * 1000,
      peers: [`dns:${peers.metadata.name}:${chartValues.ports.admin}`],
      version: env.BATON_REBALANCE_VERSION,
    });
    const off = documents((await templateDefaultsWith('rebalance.seconds=0')).stdout);
    expect(off.some((doc) => doc.kind === 'Service' && doc.metadata.name.endsWith('-peers'))).toBe(false);
    const offEnv = byKind(off, 'Deployment').spec.template.spec.containers[0].env as Doc[];
    expect(offEnv.some((e) => String(e.name).startsWith('BATON_REBALANCE'))).toBe(false);
    const offPolicy = byKind(off, 'NetworkPolicy');
    expect(JSON.stringify(offPolicy.spec.ingress)).not.toContain('podSelector');
  });

  it('runs several gateway processes per pod as the example gateway reads them (WORKERS), none by default', async () => {
    const envOf = (all: Doc[]) => byKind(all, 'Deployment').spec.template.spec.containers[0].env as Doc[];
    const four = envOf(await rendered('workers-values.yaml')).filter((e) => e.name === 'WORKERS');
    expect(four).toEqual([{ name: 'WORKERS', value: '4' }]);
    // The gateway's own parser takes what the chart renders; the default renders no WORKERS (one process).
    expect(workersFrom({ WORKERS: four[0]?.value })).toBe(4);
    expect(envOf(await rendered('default-values.yaml')).some((e) => e.name === 'WORKERS')).toBe(false);
    // The schema bounds it as the gateway does (1 to 64).
    for (const bad of ['workers=0', 'workers=65', 'workers=two']) {
      const failure = await templateDefaultsWith(`${bad},rebalance.seconds=0`).then(
        () => undefined,
        (error: { stderr: string }) => error.stderr,
      );
      expect(failure, bad).toContain('workers');
    }
  });

  it('rolls the pods on a new keys revision, and never puts a hash of the keys where pods are listed', async () => {
    const keysA = 'k1=p6gh/BEr317caceVD5nKy3sWGtRpceZ/NhKN6sf3aAA=';
    const keysB = 'k2=PUmMdRBAx4UWjFrdzOHTNQCn4B+TdlfWAxoI7LZ0Fq0=';
    const render = async (...sets: string[]) => {
      const { stdout } = await run(helm('4.1.4'), [
        'template',
        'x',
        chart,
        '-f',
        join(chart, 'ci/default-values.yaml'),
        ...sets.flatMap((set) => ['--set', set]),
      ]);
      const all = documents(stdout);
      return {
        text: stdout,
        pod: byKind(all, 'Deployment').spec.template.metadata.annotations as Record<string, string>,
        secret: byKind(all, 'Secret')?.metadata.annotations as Record<string, string> | undefined,
      };
    };
    const a = await render(`handoff.keys=${keysA}`);
    const b = await render(`handoff.keys=${keysB}`);
    // Offline (helm template: no Secret to read back) the revision is 1, whoever the keys are…
    expect(a.pod['baton.dev/handoff-keys-revision']).toBe('1');
    expect(b.pod['baton.dev/handoff-keys-revision']).toBe('1');
    expect(a.secret?.['baton.dev/keys-revision']).toBe('1');
    // …and nothing rendered outside the Secret's data is derived from them (the old annotation was SHA-256).
    for (const { text } of [a, b]) expect(text).not.toContain('checksum/handoff-keys');
    const digests = [keysA, keysB].flatMap((keys) => [
      createHash('sha256').update(keys).digest('hex'),
      createHash('sha256').update(`${keys}\n`).digest('hex'),
    ]);
    for (const digest of digests) expect(a.text + b.text).not.toContain(digest);
    // An explicit revision rolls the pods (a rotation in an existingSecret, or Argo CD rendering offline).
    const rotated = await render(`handoff.keys=${keysA}`, 'handoff.keysRevision=2026-12-05');
    expect(rotated.pod['baton.dev/handoff-keys-revision']).toBe('2026-12-05');
    const existing = await render('handoff.existingSecret=gw-keys');
    expect(existing.pod['baton.dev/handoff-keys-revision']).toBe('secret/gw-keys');
  });

  it('gives the rollout hold its pod identity and read-only access to pods, and nothing when it is off', async () => {
    const all = await rendered('default-values.yaml');
    const pod = byKind(all, 'Deployment').spec.template.spec;
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
    // Its token: not automounted for every container, but a projected volume of the same files, expiring after
    // 10 minutes, mounted into the gateway container alone.
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(serviceAccount.automountServiceAccountToken).toBe(false);
    const access = pod.volumes.find((volume: Doc) => volume.name === 'kube-api-access');
    expect(access.projected.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ]);
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'kube-api-access',
      mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
      readOnly: true,
    });
    const off = await rendered('custom-budget-values.yaml');
    expect(off.map((doc) => doc.kind)).not.toContain('Role');
    // That values file's store: a Redis Cluster over TLS, its CA mounted read-only where the env says.
    const offContainer = byKind(off, 'Deployment').spec.template.spec.containers[0];
    const offEnv = Object.fromEntries(offContainer.env.map((e: Doc) => [e.name, e.value ?? e.valueFrom]));
    expect(offEnv.BATON_HANDOFF_STORE_URL).toEqual({
      secretKeyRef: { name: 'ws-gateway-redis', key: 'BATON_HANDOFF_STORE_URL' },
    });
    expect(offEnv.BATON_HANDOFF_STORE_CLUSTER).toBe('true');
    expect(offEnv.BATON_HANDOFF_STORE_CA_FILE).toBe('/etc/baton/redis-ca/ca.crt');
    expect(offContainer.volumeMounts).toContainEqual({
      name: 'redis-ca',
      mountPath: '/etc/baton/redis-ca',
      readOnly: true,
    });
    expect(byKind(off, 'Deployment').spec.template.spec.volumes).toContainEqual({
      name: 'redis-ca',
      secret: { secretName: 'ws-gateway-redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    const offPod = byKind(off, 'Deployment').spec.template.spec;
    expect(offPod.automountServiceAccountToken).toBe(false);
    expect(offPod.volumes.map((volume: Doc) => volume.name)).not.toContain('kube-api-access');
  });

  it('in Argo mode: a blue/green Rollout that keeps old pods past the propagation delay, the HPA on it', async () => {
    const all = await rendered('argo-values.yaml');
    expect(all.map((doc) => doc.kind)).not.toContain('Deployment');
    const rollout = byKind(all, 'Rollout');
    const blueGreen = rollout.spec.strategy.blueGreen;
    const services = all.filter((doc) => doc.kind === 'Service').map((doc) => doc.metadata.name);
    expect(services).toEqual(expect.arrayContaining([blueGreen.activeService, blueGreen.previewService]));
    expect(blueGreen.scaleDownDelaySeconds).toBeGreaterThanOrEqual(chartValues.drain.propagationSeconds);
    expect(blueGreen.autoPromotionEnabled).toBe(true);
    expect(byKind(all, 'HorizontalPodAutoscaler').spec.scaleTargetRef).toEqual({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      name: rollout.metadata.name,
    });
    // The existing Secret is used, none created.
    expect(all.map((doc) => doc.kind)).not.toContain('Secret');
    expect(all.map((doc) => doc.kind)).not.toContain('AnalysisTemplate');
    expect(blueGreen.postPromotionAnalysis).toBeUndefined();
  });

  it('with rollout.analysis: a post-promotion AnalysisTemplate of kind Job running baton-probe, inside the scale-down delay', async () => {
    const all = await rendered('argo-analysis-values.yaml');
    const rollout = byKind(all, 'Rollout');
    const analysis = byKind(all, 'AnalysisTemplate');
    const blueGreen = rollout.spec.strategy.blueGreen;
    expect(blueGreen.postPromotionAnalysis).toEqual({ templates: [{ templateName: analysis.metadata.name }] });
    const job = analysis.spec.metrics[0].provider.job.spec;
    expect(job.backoffLimit).toBe(0);
    const [container] = job.template.spec.containers;
    expect(container.image).toBe('registry.example.test/baton/probe:0.1.0');
    // The flags the probe's CLI parses: this very command must be valid baton-probe usage.
    const command: string[] = container.command;
    expect(command.slice(0, 2)).toEqual(['baton-probe', 'release']);
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag('--url')).toBe(`ws://${rollout.metadata.name}.gateway.svc:${chartValues.ports.ws}/`);
    expect(flag('--expect-version')).toBe('1.2.0');
    expect(flag('--max-disconnected')).toBe('0');
    expect(Number(flag('--duration'))).toBeLessThan(blueGreen.scaleDownDelaySeconds);
    const { releaseCommand } = await import('../packages/probe/src/cli/flags.js');
    const parsed = releaseCommand(command.slice(2));
    expect(parsed.probe.thresholds).toEqual({ expectVersion: '1.2.0', maxDisconnected: 0 });
    // The gate's Job can outlive its probe by a minute at most.
    expect(job.activeDeadlineSeconds).toBe(Number(flag('--duration')) + 60);
  });
});

describe('the image (examples/ws-gateway/Dockerfile)', () => {
  const dockerfile = readFileSync(join(root, 'examples/ws-gateway/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .split('\n')
    .filter((line) => /^[A-Z]+ /.test(line))
    .map((line) => line.split(/\s+/));

  it('copies only what exists in the build context (the repository root)', () => {
    const copies = instructions.filter(([op, ...args]) => op === 'COPY' && !args[0]?.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const [, ...args] of copies) {
      for (const source of args.slice(0, -1)) expect(existsSync(join(root, source)), source).toBe(true);
    }
  });

  it("runs the chart's command on the chart's ports, as the chart's non-root user, in exec form", async () => {
    const container = byKind(await rendered('default-values.yaml'), 'Deployment').spec.template.spec.containers[0];
    const cmd = dockerfile.match(/^CMD (\[.*\])$/m)?.[1];
    expect(cmd, 'CMD in exec (JSON) form').toBeDefined();
    expect(JSON.parse(cmd as string)).toEqual(container.command);
    const exposed = (dockerfile.match(/^EXPOSE (.*)$/m)?.[1] ?? '').split(/\s+/).map(Number);
    expect(exposed).toEqual(container.ports.map((port: Doc) => port.containerPort));
    const users = instructions.filter(([op]) => op === 'USER').map(([, user]) => user);
    expect(users.at(-1)).toBe('1000:1000');
    expect(Number(users.at(-1)?.split(':')[0])).not.toBe(0);
    // The deployed gateway's entry point is the script the chart starts.
    expect(existsSync(join(root, 'examples/ws-gateway', container.command[1]))).toBe(true);
  });
});

describe('the relay option (relay.enabled)', () => {
  const named = (all: Doc[], kind: string, suffix: string) =>
    all.find((doc) => doc.kind === kind && String(doc.metadata.name).endsWith(suffix)) as Doc;
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([key, value]) => labels[key] === value);

  it("makes the relay's Service the public LoadBalancer, the gateway's ClusterIP, and neither selects the other's pods", async () => {
    const all = await rendered('relay-values.yaml');
    const relayService = named(all, 'Service', '-relay');
    const gatewayService = all.find((doc) => doc.kind === 'Service' && doc !== relayService) as Doc;
    expect(relayService.spec.type).toBe('LoadBalancer');
    expect(relayService.spec.externalTrafficPolicy).toBe('Local');
    expect(gatewayService.spec.type).toBe('ClusterIP');
    expect(gatewayService.spec.externalTrafficPolicy).toBeUndefined();
    const relayPods = named(all, 'Deployment', '-relay').spec.template.metadata.labels;
    const gatewayPods = all.find((doc) => doc.kind === 'Deployment' && !String(doc.metadata.name).endsWith('-relay'))
      ?.spec.template.metadata.labels;
    expect(matches(relayService.spec.selector, relayPods)).toBe(true);
    expect(matches(relayService.spec.selector, gatewayPods)).toBe(false);
    expect(matches(gatewayService.spec.selector, gatewayPods)).toBe(true);
    expect(matches(gatewayService.spec.selector, relayPods)).toBe(false);
    // And the PDBs each keep to their own pods.
    expect(matches(named(all, 'PodDisruptionBudget', '-relay').spec.selector.matchLabels, gatewayPods)).toBe(false);
  });

  it("points the relay at the gateway's Service and drains it with the gateway's budget and hold", async () => {
    const all = await rendered('relay-values.yaml');
    const relay = named(all, 'Deployment', '-relay');
    const gateway = all.find((doc) => doc.kind === 'Deployment' && doc !== relay) as Doc;
    const gatewayService = all.find((doc) => doc.kind === 'Service' && !String(doc.metadata.name).endsWith('-relay'));
    const env = Object.fromEntries(
      relay.spec.template.spec.containers[0].env.map((e: Doc) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env.BATON_RELAY_UPSTREAM).toBe(
      `ws://${gatewayService?.metadata.name}:${gatewayService?.spec.ports[0].port}/`,
    );
    expect(env.BATON_RELAY_ID_FIELD).toBe('id');
    expect(env.BATON_ROLLOUT_HOLD).toBe('kubernetes');
    const relayBudget = budgetOf(relay);
    expect(relayBudget.podGraceSeconds).toBe(budgetOf(gateway).podGraceSeconds);
    expect(relayBudget.budget).toEqual(budgetOf(gateway).budget);
    expect(relay.spec.template.spec.containers[0].lifecycle.preStop.exec.command).toEqual(
      gateway.spec.template.spec.containers[0].lifecycle.preStop.exec.command,
    );
    expect(relay.spec.template.spec.containers[0].volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ]);
    expect(relay.spec.template.spec.volumes).toEqual(gateway.spec.template.spec.volumes);
    // The relay is the clients' first hop: their own X-Forwarded-For is replaced.
    expect(env.BATON_RELAY_FORWARDED_FOR).toBe('replace');
    // Its own ServiceAccount, bound to the same read-only Role; never the gateway's.
    const relaySa = relay.spec.template.spec.serviceAccountName;
    expect(relaySa).not.toBe(gateway.spec.template.spec.serviceAccountName);
    expect(all.find((doc) => doc.kind === 'ServiceAccount' && doc.metadata.name === relaySa)).toBeDefined();
    expect(byKind(all, 'RoleBinding').subjects).toContainEqual({ kind: 'ServiceAccount', name: relaySa });
    expect(relay.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it("closes the relay's admin port to the cluster as the gateway's (scrapers only), its public port open", async () => {
    const all = await rendered('relay-values.yaml');
    const relay = all.find((doc) => doc.kind === 'Deployment' && doc.metadata.name.endsWith('-relay')) as Doc;
    const policies = all.filter((doc) => doc.kind === 'NetworkPolicy');
    const relayPolicy = policies.find(
      (policy) =>
        JSON.stringify(policy.spec.podSelector.matchLabels) === JSON.stringify(relay.spec.selector.matchLabels),
    ) as Doc;
    expect(relayPolicy).toBeDefined();
    const byPort = (name: string) =>
      relayPolicy.spec.ingress.find((rule: Doc) => rule.ports.some((port: Doc) => port.port === name));
    expect(byPort('ws').from).toBeUndefined();
    expect(byPort('admin').from).toEqual([{ namespaceSelector: { matchLabels: { 'baton-metrics-scraper': 'true' } } }]);
    // Behind the relay, the gateway's WebSocket port is open to the relay's pods only.
    const gatewayPolicy = policies.find((policy) => policy !== relayPolicy) as Doc;
    const gatewayWs = gatewayPolicy.spec.ingress.find((rule: Doc) =>
      rule.ports.some((port: Doc) => port.port === 'ws'),
    );
    expect(gatewayWs.from).toEqual([{ podSelector: { matchLabels: relay.spec.selector.matchLabels } }]);
  });

  it('needs the relay image, with a message that says which', async () => {
    const failure = await templateDefaultsWith('relay.enabled=true').catch((error: { stderr: string }) => error);
    expect(String((failure as { stderr?: string }).stderr)).toMatch(/relay\.image\.repository is required/);
  });

  it('renders nothing of the relay when it is off', async () => {
    const all = await rendered('default-values.yaml');
    expect(all.filter((doc) => String(doc.metadata.name).endsWith('-relay'))).toEqual([]);
  });
});

describe('the relay image (examples/relay/Dockerfile)', () => {
  const dockerfile = readFileSync(join(root, 'examples/relay/Dockerfile'), 'utf8');

  it("copies what exists and runs the chart's command on the chart's ports, non-root", async () => {
    for (const line of dockerfile.split('\n').filter((l) => /^COPY (?!--from)/.test(l))) {
      for (const source of line.split(/\s+/).slice(1, -1)) expect(existsSync(join(root, source)), source).toBe(true);
    }
    const container = (await rendered('relay-values.yaml')).find(
      (doc) => doc.kind === 'Deployment' && String(doc.metadata.name).endsWith('-relay'),
    )?.spec.template.spec.containers[0];
    expect(JSON.parse(dockerfile.match(/^CMD (\[.*\])$/m)?.[1] ?? 'null')).toEqual(container.command);
    const exposed = (dockerfile.match(/^EXPOSE (.*)$/m)?.[1] ?? '').split(/\s+/).map(Number);
    expect(exposed).toEqual(container.ports.map((port: Doc) => port.containerPort));
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    // The image's entry point is the relay package's bin.
    expect(JSON.parse(readFileSync(join(root, 'packages/relay/package.json'), 'utf8')).bin['baton-relay']).toBe(
      `./${container.command[1].replace('node_modules/@baton/relay/', '')}`,
    );
  });
});
