// What a lab run is given and what it returns: a row (StrategyRun), the lab's options (LabOptions) and the
// figures measured (StrategyResult).

import type { ProbeFigures } from '@baton/probe';
import type { ReadinessModel } from '../cluster/release.js';
import type { DataPath } from '../datapath/lab-balancer.js';
import type { Strategy } from '../strategies/kinds.js';

export interface StrategyRun {
  name: string;
  strategy: Strategy;
  /**
   * 'baton' runs the Baton gateway; 'naive' the gateway that closes everything on SIGTERM; 'relay' makes the
   * released pods @baton/relay processes in front of one Baton gateway that stays (the relay's own release).
   */
  gateway: 'baton' | 'naive' | 'relay';
  /**
   * The clients reach the gateways through one @baton/relay process (upstream: the balancer, `--id-field id`),
   * so the gateway's hints move the relay's upstreams instead of reaching the clients. Default false.
   */
  throughRelay?: boolean;
  clients: 'plain' | 'baton';
  /**
   * kube-proxy keeps a removed endpoint's established flows; the Dataplane V2 model resets them (a selector
   * flip). Default: the lab option, else kube-proxy.
   */
  dataplane?: 'kube-proxy' | 'dpv2';
  /** Default: the lab option, else Local. */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  /** The GCP LB's kind (proxy-core.ts LbKind). Default: the lab option, else backend-service (the chart's). */
  lbKind?: 'target-pool' | 'backend-service';
  /** Default: the lab option, else false (Kubernetes ≥ 1.26). */
  kubernetesBefore126?: boolean;
  /** The propagation delay in real seconds, when not the lab's 30 s (the window is derived from it). */
  propagationSeconds?: number;
  /** Gateways run the rollout-aware hold (@baton/kubernetes against the lab's pod API). Default false. */
  rolloutHold?: boolean;
  /** The hold's minimum window share (BATON_MIN_WINDOW_SHARE). Default: drain-core's 0.5. */
  minWindowShare?: number;
  /** Admission control on every pod (BATON_MAX_ACCEPTS_PER_SECOND / BATON_ACCEPT_BURST), in real-world rates. */
  admission?: { maxAcceptsPerSecond: number; burst: number };
  /**
   * How new pods become ready during the release, in real-world ms (the lab scales them). Default: the lab
   * option `readiness`.
   */
  readiness?: ReadinessModel;
  /**
   * Roll back to v1 (new v1 pods, same strategy) this share of the drain window after the release's
   * cut-over, while its old pods still drain.
   */
  rollbackAfterWindowShare?: number;
  /**
   * Rebalancing after a scale-out (BATON_REBALANCE_SECONDS, real-world seconds): every pod reads the others'
   * status on its own admin address. Default off.
   */
  rebalanceSeconds?: number;
}

export interface LabOptions {
  clients: number;
  /** Which example runs the Baton pods. Default 'ws'. */
  gateway?: 'ws' | 'fastify';
  replicas: number;
  /** Multiplies every duration of the real-world budget (1 = real time). */
  timeScale: number;
  /** New pods' readiness in real-world ms, for runs that do not set their own. Default: immediate. */
  readiness?: ReadinessModel;
  /** Seed of the lab's random choices (readiness draws). Default 1. */
  seed?: number;
  /** Default kube-proxy (see StrategyRun). */
  dataplane?: 'kube-proxy' | 'dpv2';
  /** The Service's externalTrafficPolicy. Default Local (the guide's setting, with the LB's health-check lag). */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  /** The GCP LB's kind. Default backend-service (the chart's annotation cloud.google.com/l4-rbs). */
  lbKind?: 'target-pool' | 'backend-service';
  /** Kubernetes before 1.26 drops SYNs to a node whose local endpoints all terminate. Default false (≥ 1.26). */
  kubernetesBefore126?: boolean;
  /**
   * The data path between clients and pods: 'kernel' (network namespaces, kube-proxy-style iptables rules,
   * conntrack: datapath/kernel/) or 'node' (the Node balancer, a JavaScript model: datapath/node/).
   * Default: kernel where this process may create namespaces and finds iptables and conntrack, else node.
   */
  dataPath?: DataPath;
}

export interface StrategyResult {
  name: string;
  /** The model this row ran under: strategy, readiness, dataplane, hold. */
  model: string;
  /** Which data path carried the flows: the kernel's (namespaces, iptables, conntrack) or the Node balancer. */
  dataPath: DataPath;
  clients: number;
  disconnects: { zero: number; one: number; two: number; threeOrMore: number; max: number; shareMoreThanOnce: number };
  appVisibleDisconnectsOfBatonClients: number | null;
  /** Whether sessions survive a move here (Baton clients, or plain clients through the relay): ticks are counted. */
  sessionsTracked: boolean;
  /** How many app-visible disconnects ended with each close code (1012: a drain's close; 1006: no close frame). */
  closeCodes: Record<string, number>;
  /** Most times one client changed pod: its disconnects plus its Baton moves. */
  maxMoves: number;
  /** Fewest times one client changed pod (a row whose release reached every client has at least 1). */
  minMoves: number;
  ticksLost: number;
  ticksDuplicated: number;
  oldPodAcceptsAfterCutOver: number;
  /**
   * Peak and p99 of new connections per second at the balancer; the even rate is N over the window the old
   * pods' closes actually used (from the first closing start to the last window end, from their drain reports).
   */
  reconnectsPerSecond: { peak: number; p99: number; evenRate: number; peakOverEven: number; windowSeconds: number };
  /** Each old pod's drain, seconds since the release began (lab time): deleted, closing started, window. */
  drains: { deletedAt: number; closingAt: number | null; windowSeconds: number | null; hold: string | null }[];
  /**
   * How often the data path's accept log lost events (the kernel's conntrack event stream overflowed): 0 means
   * every accept was counted; above 0, accepts and the reconnect rates are lower bounds.
   */
  acceptEventsLost: number;
  /** Connection attempts a node dropped (ETP Local with only terminating local pods, Kubernetes < 1.26). */
  droppedConnects: number;
  /** The old pods' rollout holds: outcomes and the longest, in real-world seconds. */
  holds: { outcomes: Record<string, number>; longestSeconds: number } | null;
  durationSeconds: number;
  podsMissingDeadline: number;
  connectedAtEnd: number;
  /**
   * Unplanned rows (pods crashed): the most connections the balancer handed one pod in one real-world second
   * (lab time scaled back) after the crash — TCP connections, so upgrades admission control refused count too;
   * the most upgrades one pod accepted in a real second (its own count); the survivors' worst event-loop p99
   * (ms); real seconds from the crash until the last reconnect; Baton clients whose session resumed (from a
   * checkpoint) or started fresh.
   */
  unplanned: {
    peakAcceptsPerPodPerSecond: number;
    /** The most upgrades one pod accepted in one real-world second (its own count: admission refusals excluded). */
    peakAdmittedPerPodPerSecond: number;
    /** The worst one-second p99 of any survivor (nearly that second's maximum: ~100 samples a second). */
    loopP99Ms: number;
    /** The p99 of all the survivors' samples from the crash until every client was back (an upper bound). */
    loopP99StormMs: number;
    secondsUntilAllBack: number;
    resumed: number | null;
    fresh: number | null;
  } | null;
  /**
   * Scale-out rows: connections per pod (the data path's established flows, sampled each lab second) from the
   * scale-out on: real seconds after the new pods were ready until max/mean first reached 1.25 and stayed at or
   * under it (null: never), the ratio at the end, and the series.
   */
  balance: {
    secondsToBalance: number | null;
    finalRatio: number;
    finalCounts: number[];
    series: { t: number; max: number; mean: number }[];
  } | null;
  /** The balancer's new connections in each second (lab time) since the release began. */
  series: { reconnects: number[] };
  /** Real seconds per second of lab time (the run's time scale): the report prints real seconds. */
  timeScale: number;
  /**
   * The probe's figures of the same release (@baton/probe's fleet and summary, in real seconds), from the
   * clients' side: what `baton-probe release` would have reported.
   */
  probe: ProbeFigures;
  /**
   * Every connection that reached a pod since the fleet started, by the pod's version: the data path's count
   * (its log or conntrack's, at the SYN) and the probe's clients' (upgrades accepted or refused, at the answer).
   * Equal when the probe's figures are the data path's; the whole run, so a connection straddling the
   * release's start is in both.
   */
  acceptAudit: { dataPath: Record<string, number>; probe: Record<string, number> };
}
