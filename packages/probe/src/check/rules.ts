// The rules of `baton-probe check`: each a code, a severity, one line of why, and a section of docs/check.md that
// says how to fix it and cites the source of the fact it rests on. A rule looks at one Baton workload and the
// objects around it (gateway-view.ts) and returns what it found: pass, fail, or skip (it cannot tell from what it
// was given, and says what would tell it).

import { DEFAULT_ADMIN_PATHS, type DrainBudget, drainOptionsFromEnv, resolveDrainBudget } from '@baton/drain-core';
import { type BatonWorkload, type GatewayView, type LbKind, preStopCommand } from './gateway-view.js';
import { detectionSeconds, lbKindOf } from './load-balancers.js';
import { annotationsOf, at, type KObject, kindOf, list, nameOf, num, percent, record, refOf, str } from './objects.js';

export type Severity = 'error' | 'warning';
export type Outcome = 'pass' | 'fail' | 'skip';

export interface Finding {
  readonly rule: string;
  readonly severity: Severity;
  readonly outcome: Outcome;
  /** The object the finding is about ("Deployment/gw", "Service/gw"). */
  readonly object: string;
  readonly detail: string;
  /** Where the guide explains the rule and its fix. */
  readonly guide: string;
}

type Result = { outcome: Outcome; object?: string; detail: string };

export interface Rule {
  readonly code: string;
  readonly severity: Severity;
  /** One line: what breaks for the clients when the rule fails. */
  readonly why: string;
  check(workload: BatonWorkload, view: GatewayView): Result[];
}

const GUIDE = 'https://github.com/baton-ws/baton/blob/main/docs/check.md';
export const guideOf = (code: string): string => `${GUIDE}#${code}`;

const pass = (detail: string): Result => ({ outcome: 'pass', detail });
const fail = (detail: string, object?: string): Result => ({ outcome: 'fail', detail, ...(object ? { object } : {}) });
const skip = (detail: string): Result => ({ outcome: 'skip', detail });

// The drain budget the workload's literal env gives drain-core (only the budget's variables: the others may come
// from Secrets the check cannot see). Throws drain-core's own coded error for an impossible budget.
function budgetOf(workload: BatonWorkload): DrainBudget {
  const env: Record<string, string> = {};
  for (const name of [
    'BATON_GRACE_PERIOD_SECONDS',
    'BATON_PROPAGATION_SECONDS',
    'BATON_DRAIN_WINDOW_SECONDS',
    'BATON_CLOSE_TIMEOUT_SECONDS',
    'BATON_SAFETY_MARGIN_SECONDS',
  ]) {
    const value = workload.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return resolveDrainBudget(drainOptionsFromEnv(env));
}

function safeBudget(workload: BatonWorkload): DrainBudget | undefined {
  try {
    return budgetOf(workload);
  } catch {
    return undefined;
  }
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

const graceBudget: Rule = {
  code: 'grace-budget',
  severity: 'error',
  why: 'the kubelet kills the pod (SIGKILL) before the drain has closed its clients: the rest drop at once',
  check(workload) {
    const podGrace = num(workload.pod.terminationGracePeriodSeconds) ?? 30;
    let budget: DrainBudget;
    try {
      budget = budgetOf(workload);
    } catch (error) {
      return [fail((error as Error).message)];
    }
    if (podGrace * 1000 < budget.gracePeriodMs) {
      return [
        fail(
          `terminationGracePeriodSeconds ${podGrace} < BATON_GRACE_PERIOD_SECONDS ${budget.gracePeriodMs / 1000}: set them equal`,
        ),
      ];
    }
    return [
      pass(
        `grace ${podGrace} s ≥ propagation ${seconds(budget.propagationDelayMs)} + window ${seconds(budget.drainWindowMs)} + close ${seconds(budget.closeTimeoutMs)} + margin ${seconds(budget.safetyMarginMs)}`,
      ),
    ];
  },
};

const preStop: Rule = {
  code: 'prestop',
  severity: 'error',
  why: 'without baton-drain as the preStop exec, the drain starts only at SIGTERM, with the endpoint already gone',
  check(workload) {
    const command = preStopCommand(workload.container);
    if (command.includes('baton-drain')) return [pass(`preStop exec: ${command}`)];
    if (at(workload.container, 'lifecycle', 'preStop', 'httpGet'))
      return [fail('preStop is an httpGet: it carries no container proof and gets 403; exec baton-drain instead')];
    return [fail(command ? `preStop runs "${command}", not baton-drain` : 'no preStop hook: exec baton-drain')];
  },
};

const readiness: Rule = {
  code: 'readiness',
  severity: 'error',
  why: "a readiness probe other than drain-core's fails or passes at the wrong time, and the endpoint goes too early or never",
  check(workload) {
    const probe = record(at(workload.container, 'readinessProbe', 'httpGet'));
    const adminPort = num(workload.env.get('ADMIN_PORT')) ?? 9090;
    const ports = list(workload.container.ports).map(record);
    const named = ports.find((port) => str(port.name) === str(probe.port));
    const port = num(probe.port) ?? num(named?.containerPort);
    if (Object.keys(probe).length === 0)
      return [fail(`no readinessProbe.httpGet: use ${DEFAULT_ADMIN_PATHS.readiness} on the admin port`)];
    if (probe.path !== DEFAULT_ADMIN_PATHS.readiness)
      return [fail(`readinessProbe path ${String(probe.path)}: use ${DEFAULT_ADMIN_PATHS.readiness} (drain-core's)`)];
    if (port !== adminPort)
      return [fail(`readinessProbe port ${String(probe.port)} is not the admin port ${adminPort}`)];
    return [pass(`${DEFAULT_ADMIN_PATHS.readiness} on the admin port ${adminPort}`)];
  },
};

function grantsPodReads(role: KObject): boolean {
  return list(role.rules).some((rule) => {
    const resources = list(at(rule, 'resources')).map(String);
    const verbs = list(at(rule, 'verbs')).map(String);
    const groups = list(at(rule, 'apiGroups')).map(String);
    const pods = resources.includes('pods') || resources.includes('*');
    const core = groups.includes('') || groups.includes('*');
    const all = ['get', 'list', 'watch'].every((verb) => verbs.includes(verb) || verbs.includes('*'));
    return pods && core && all;
  });
}

const rolloutHold: Rule = {
  code: 'rollout-hold',
  severity: 'error',
  why: 'a hold that cannot read its pods does not hold: old pods drain while the new ones are not ready',
  check(workload, view) {
    if (workload.env.get('BATON_ROLLOUT_HOLD') !== 'kubernetes') {
      return [skip('no rollout hold (BATON_ROLLOUT_HOLD unset): see the surge rule')];
    }
    const envNames = [...workload.env.keys()];
    const missing = ['POD_NAME', 'POD_NAMESPACE'].filter((name) => !envNames.includes(name));
    if (missing.length > 0) return [fail(`${missing.join(' and ')} missing: the hold cannot find its own pod`)];
    const account = str(workload.pod.serviceAccountName) ?? 'default';
    const automount = workload.pod.automountServiceAccountToken;
    const tokenMounted = list(workload.container.volumeMounts).some(
      (mount) => str(at(mount, 'mountPath')) === '/var/run/secrets/kubernetes.io/serviceaccount',
    );
    if (automount === false && !tokenMounted)
      return [fail('automountServiceAccountToken is false and no token is mounted: the hold has no credentials')];
    const bindings = [...view.byKind('RoleBinding'), ...view.byKind('ClusterRoleBinding')].filter((binding) =>
      list(binding.subjects).some(
        (subject) => str(at(subject, 'kind')) === 'ServiceAccount' && str(at(subject, 'name')) === account,
      ),
    );
    const roles = [...view.byKind('Role'), ...view.byKind('ClusterRole')];
    if (view.byKind('RoleBinding').length + view.byKind('ClusterRoleBinding').length === 0)
      return [skip(`no RBAC objects given: check that ServiceAccount ${account} may get, list and watch pods`)];
    const granted = bindings.some((binding) => {
      const roleName = str(at(binding, 'roleRef', 'name'));
      const roleKind = str(at(binding, 'roleRef', 'kind'));
      return roles.some((role) => kindOf(role) === roleKind && nameOf(role) === roleName && grantsPodReads(role));
    });
    if (!granted) return [fail(`ServiceAccount ${account} is not bound to a role that may get, list and watch pods`)];
    return [pass(`ServiceAccount ${account} reads pods; POD_NAME and POD_NAMESPACE set`)];
  },
};

/** The LoadBalancer Services that select the workload's pods, with this externalTrafficPolicy when one is given. */
function loadBalancers(workload: BatonWorkload, trafficPolicy?: 'Local'): KObject[] {
  return workload.services.filter(
    (service) =>
      str(at(service, 'spec', 'type')) === 'LoadBalancer' &&
      (trafficPolicy === undefined || str(at(service, 'spec', 'externalTrafficPolicy')) === trafficPolicy),
  );
}

const propagation: Rule = {
  code: 'propagation',
  severity: 'error',
  why: 'closing starts while the load balancer still sends new clients to the pod: they are refused and reconnect again',
  check(workload, view) {
    const budget = safeBudget(workload);
    if (!budget) return [skip('the drain budget is impossible (see grace-budget)')];
    const balancers = loadBalancers(workload);
    if (balancers.length === 0)
      return [skip('no LoadBalancer Service selects these pods (a relay or an ingress in front)')];
    return balancers.map((service) => {
      const { kind, assumed } = lbKindOf(service, view.facts.lbKind);
      const trafficPolicy = str(at(service, 'spec', 'externalTrafficPolicy')) === 'Local' ? 'Local' : 'Cluster';
      const detect = detectionSeconds(kind, trafficPolicy);
      const have = budget.propagationDelayMs / 1000;
      const what = `${kindName(kind)}${assumed ? ' (assumed: no cloud.google.com/l4-rbs annotation; --lb-kind to say)' : ''}, externalTrafficPolicy ${trafficPolicy}: the LB notices an unhealthy node after ${detect.interval} s × ${detect.threshold} = ${detect.seconds} s`;
      return have < detect.seconds
        ? fail(`propagation ${have} s < ${detect.seconds} s. ${what}`, refOf(service))
        : pass(`propagation ${have} s ≥ ${detect.seconds} s. ${what}`);
    });
  },
};

const lbKind: Rule = {
  code: 'lb-kind',
  severity: 'warning',
  why: "a target pool may move a node's established flows once its health check fails: with ETP Local, Baton's pacing is lost",
  check(workload, view) {
    const local = loadBalancers(workload, 'Local');
    if (local.length === 0) return [skip('no LoadBalancer Service with externalTrafficPolicy Local')];
    return local.map((service) => {
      const { kind, assumed } = lbKindOf(service, view.facts.lbKind);
      if (kind === 'backend-service') return pass('backend service: established flows persist on an unhealthy node');
      return fail(
        `target pool${assumed ? ' (assumed)' : ''} with ETP Local: a node whose gateway pods all drain fails its check about 24 s in, and GCP documents nothing of its established flows (lab, flows moved: 19 % of clients disconnected twice or more). Use the annotation cloud.google.com/l4-rbs: "enabled" on a new Service, or ETP Cluster; measure with baton-probe release`,
        refOf(service),
      );
    });
  },
};

function kindName(kind: LbKind): string {
  return kind === 'backend-service' ? 'backend-service LB' : 'target-pool LB';
}

const surge: Rule = {
  code: 'surge',
  severity: 'warning',
  why: 'old pods that drain before enough new ones are ready send their clients to a few pods, or to other old pods',
  check(workload) {
    if (kindOf(workload.object) !== 'Deployment') return [skip('not a Deployment')];
    const strategy = record(at(workload.object, 'spec', 'strategy'));
    if (str(strategy.type) === 'Recreate')
      return [{ outcome: 'fail', detail: 'Recreate kills every old pod at once: every client disconnects together' }];
    const surgeValue = at(strategy, 'rollingUpdate', 'maxSurge') ?? '25%';
    const unavailable = at(strategy, 'rollingUpdate', 'maxUnavailable') ?? '25%';
    const fullSurge = percent(surgeValue) === 100;
    const noneUnavailable = num(unavailable) === 0 || percent(unavailable) === 0;
    const hold = workload.env.get('BATON_ROLLOUT_HOLD') === 'kubernetes';
    if (fullSurge && noneUnavailable)
      return [pass('maxSurge 100%, maxUnavailable 0: every new pod exists before an old one drains')];
    return [
      {
        outcome: 'fail',
        detail: `maxSurge ${String(surgeValue)}, maxUnavailable ${String(unavailable)}${hold ? ' (the hold waits for new pods, but fewer exist at a time)' : ' and no rollout hold: a drained client may land on an old pod and move again'}; use maxSurge 100%, maxUnavailable 0`,
      },
    ];
  },
};

const argoScaleDown: Rule = {
  code: 'argo-scale-down',
  severity: 'error',
  why: "Argo deletes the old pods this long after the selector flip: sooner than the LB's propagation, clients are cut",
  check(workload) {
    if (kindOf(workload.object) !== 'Rollout') return [skip('not an Argo Rollout')];
    const blueGreen = at(workload.object, 'spec', 'strategy', 'blueGreen');
    if (!blueGreen) return [skip('not blue/green')];
    const budget = safeBudget(workload);
    if (!budget) return [skip('the drain budget is impossible (see grace-budget)')];
    // Argo's default scaleDownDelaySeconds is 30 (rollout/bluegreen.go, defaults.DefaultScaleDownDelaySeconds).
    const delay = num(at(blueGreen, 'scaleDownDelaySeconds')) ?? 30;
    const propagationSeconds = budget.propagationDelayMs / 1000;
    if (delay < propagationSeconds)
      return [
        fail(
          `scaleDownDelaySeconds ${delay} < propagation ${propagationSeconds} s: raise it to at least ${propagationSeconds}`,
        ),
      ];
    return [pass(`scaleDownDelaySeconds ${delay} ≥ propagation ${propagationSeconds} s`)];
  },
};

const dataplaneFlip: Rule = {
  code: 'dataplane-flip',
  severity: 'error',
  why: "on Dataplane V2 a Service's selector flip resets every established flow to the old pods at once",
  check(workload, view) {
    if (kindOf(workload.object) !== 'Rollout' || !at(workload.object, 'spec', 'strategy', 'blueGreen'))
      return [skip('no selector flip (not an Argo blue/green Rollout)')];
    const dataplane = view.facts.dataplane;
    if (dataplane === 'v2')
      return [
        fail('blue/green on Dataplane V2: the flip drops every old client together; use the Deployment with the hold'),
      ];
    if (dataplane === 'kube-proxy') return [pass('kube-proxy keeps established flows across the flip')];
    return [skip('dataplane unknown: --dataplane v2|kube-proxy, or check a live cluster')];
  },
};

const hpaTerminating: Rule = {
  code: 'hpa-terminating',
  severity: 'warning',
  why: 'the HPA counts the terminating pods Baton keeps Ready, so it under-scales during a release, or scales in mid-drain',
  check(workload) {
    if (workload.hpas.length === 0) return [skip('no HPA targets this workload')];
    const results: Result[] = [];
    const budget = safeBudget(workload);
    for (const hpa of workload.hpas) {
      const averaged = list(at(hpa, 'spec', 'metrics')).filter((metric) => {
        const type = str(at(metric, 'type'));
        const target =
          type === 'Object'
            ? at(metric, 'object', 'target')
            : type === 'External'
              ? at(metric, 'external', 'target')
              : undefined;
        return str(at(target, 'type')) === 'AverageValue';
      });
      if (averaged.length > 0)
        results.push(
          fail(
            `${averaged.length} Object/External metric(s) with AverageValue: divided by Ready pods, terminating ones included (replica_calculator.go)`,
            refOf(hpa),
          ),
        );
      const window = num(at(hpa, 'spec', 'behavior', 'scaleDown', 'stabilizationWindowSeconds')) ?? 300;
      if (budget && window * 1000 < budget.propagationDelayMs + budget.drainWindowMs)
        results.push(
          fail(
            `scaleDown stabilizationWindowSeconds ${window} < propagation + window (${seconds(budget.propagationDelayMs + budget.drainWindowMs)}): a scale-in right after a release disconnects clients again`,
            refOf(hpa),
          ),
        );
    }
    return results.length > 0 ? results : [pass('no averaged Object/External metric; scale-down waits out a drain')];
  },
};

const pdb: Rule = {
  code: 'pdb',
  severity: 'warning',
  why: 'without a PDB a node drain may evict several gateway pods at once, and their clients all reconnect together',
  check(workload) {
    if (workload.pdbs.length === 0) return [fail('no PodDisruptionBudget selects these pods')];
    return [pass(`${workload.pdbs.map(refOf).join(', ')}`)];
  },
};

const kubernetesVersion: Rule = {
  code: 'kubernetes-version',
  severity: 'error',
  why: 'before 1.26, kube-proxy sends nothing to terminating pods (KEP-1669): with ETP Local a node whose pods all drain blackholes its flows',
  check(workload, view) {
    if (loadBalancers(workload, 'Local').length === 0)
      return [skip('no LoadBalancer Service with externalTrafficPolicy Local')];
    const version = view.facts.kubernetesVersion;
    const match = version ? /^v?(\d+)\.(\d+)/.exec(version) : null;
    if (!match) return [skip('Kubernetes version unknown: --kubernetes-version, or check a live cluster')];
    const minor = Number(match[1]) * 100 + Number(match[2]);
    if (minor < 126) return [fail(`Kubernetes ${version} < 1.26 with externalTrafficPolicy Local`)];
    return [pass(`Kubernetes ${version}`)];
  },
};

function backendConfigName(service: KObject): string | undefined {
  const annotations = annotationsOf(service);
  const raw = annotations['cloud.google.com/backend-config'] ?? annotations['beta.cloud.google.com/backend-config'];
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as { default?: unknown; ports?: Record<string, unknown> };
    return (
      str(parsed.default) ??
      Object.values(parsed.ports ?? {})
        .map(str)
        .find(Boolean)
    );
  } catch {
    return undefined;
  }
}

const backendTimeout: Rule = {
  code: 'backend-timeout',
  severity: 'error',
  why: "GKE's L7 load balancers close a WebSocket when the backend timeout ends (30 s by default), whatever Baton does",
  check(workload, view) {
    const wanted = view.facts.connectionLifetimeSeconds ?? 3600;
    const budget = safeBudget(workload);
    const results: Result[] = [];
    for (const service of workload.services) {
      const serviceName = nameOf(service);
      const viaIngress = view
        .byKind('Ingress')
        .filter((ingress) => JSON.stringify(at(ingress, 'spec')).includes(`"name":"${serviceName}"`));
      const viaRoute = [...view.byKind('HTTPRoute'), ...view.byKind('GRPCRoute')].filter((route) =>
        list(at(route, 'spec', 'rules')).some((rule) =>
          list(at(rule, 'backendRefs')).some((ref) => str(at(ref, 'name')) === serviceName),
        ),
      );
      if (viaIngress.length > 0) {
        const configName = backendConfigName(service);
        const config = view.byKind('BackendConfig').find((object) => nameOf(object) === configName);
        const timeout = num(at(config, 'spec', 'timeoutSec')) ?? 30;
        const draining = num(at(config, 'spec', 'connectionDraining', 'drainingTimeoutSec')) ?? 0;
        const source = config ? refOf(config) : `${refOf(viaIngress[0] as KObject)} (no BackendConfig: GKE's default)`;
        if (timeout < wanted)
          results.push(
            fail(
              `backend timeoutSec ${timeout} < the ${wanted} s a connection should live (${source})`,
              refOf(service),
            ),
          );
        else results.push(pass(`backend timeoutSec ${timeout} (${source})`));
        if (budget && draining > 0 && draining * 1000 < budget.propagationDelayMs + budget.drainWindowMs)
          results.push(
            fail(
              `connectionDraining.drainingTimeoutSec ${draining} < propagation + window (${seconds(budget.propagationDelayMs + budget.drainWindowMs)}): the LB cuts what Baton paces`,
              refOf(service),
            ),
          );
      }
      if (viaRoute.length > 0) {
        const policy = view
          .byKind('GCPBackendPolicy')
          .find(
            (object) =>
              str(at(object, 'spec', 'targetRef', 'kind')) === 'Service' &&
              str(at(object, 'spec', 'targetRef', 'name')) === serviceName,
          );
        const timeout = num(at(policy, 'spec', 'default', 'timeoutSec')) ?? 30;
        const source = policy ? refOf(policy) : 'no GCPBackendPolicy: the Gateway default';
        if (timeout < wanted)
          results.push(
            fail(
              `backend timeoutSec ${timeout} < the ${wanted} s a connection should live (${source})`,
              refOf(service),
            ),
          );
        else results.push(pass(`backend timeoutSec ${timeout} (${source})`));
      }
    }
    return results.length > 0 ? results : [skip('no Ingress or Gateway route in front of these pods')];
  },
};

const SPOT_LABELS = ['cloud.google.com/gke-spot', 'cloud.google.com/gke-preemptible'];

const spot: Rule = {
  code: 'spot',
  severity: 'warning',
  why: 'GKE gives pods on spot nodes 15 s to stop, far below a drain: their clients drop at once',
  check(workload, view) {
    const budget = safeBudget(workload);
    const grace = budget ? budget.gracePeriodMs / 1000 : 30;
    const selector = record(workload.pod.nodeSelector);
    const affinity = JSON.stringify(at(workload.pod, 'affinity') ?? {});
    const tolerations = JSON.stringify(workload.pod.tolerations ?? []);
    const asked = SPOT_LABELS.some((label) => selector[label] === 'true' || tolerations.includes(label));
    const excluded = SPOT_LABELS.some((label) => affinity.includes(label) && affinity.includes('DoesNotExist'));
    const spotNodes = view
      .byKind('Node')
      .filter((node) => SPOT_LABELS.some((label) => record(at(node, 'metadata', 'labels'))[label] === 'true'));
    if (asked) return [fail(`the pods go to spot nodes: 15 s to stop against a ${grace} s drain`)];
    if (spotNodes.length > 0 && !excluded)
      return [
        fail(`${spotNodes.length} spot node(s) and nothing keeps the pods off them: 15 s against a ${grace} s drain`),
      ];
    if (view.byKind('Node').length === 0) return [skip('no nodes given: check your node pools for spot VMs')];
    return [pass('no spot nodes for these pods')];
  },
};

export const RULES: readonly Rule[] = [
  graceBudget,
  preStop,
  readiness,
  rolloutHold,
  propagation,
  lbKind,
  surge,
  argoScaleDown,
  dataplaneFlip,
  hpaTerminating,
  pdb,
  kubernetesVersion,
  backendTimeout,
  spot,
];

/** Every rule on every Baton workload of the view, in rule order. */
export function runRules(view: GatewayView, rules: readonly Rule[] = RULES): Finding[] {
  const findings: Finding[] = [];
  for (const workload of view.workloads) {
    for (const rule of rules) {
      for (const result of rule.check(workload, view)) {
        findings.push({
          rule: rule.code,
          severity: rule.severity,
          outcome: result.outcome,
          object: result.object ?? workload.ref,
          detail: result.detail,
          guide: guideOf(rule.code),
        });
      }
    }
  }
  return findings;
}
