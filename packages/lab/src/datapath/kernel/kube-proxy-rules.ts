// The Service's rules as kube-proxy's iptables mode writes them (pkg/proxy/iptables/proxier.go), as text for
// iptables-restore: a pure function of the endpoints and the routing, so it is tested without root
// (kube-proxy-rules.test.ts) and applied by the kernel data path in one transaction.
//
// Cluster: BATON-SVC picks one of the serving endpoints with `-m statistic --mode random --probability
// 1/(n−i)` jumps (kube-proxy's KUBE-SVC chain), each to an endpoint chain that DNATs to it (KUBE-SEP).
// Local: BATON-LB picks one of `routing.lbNodes` — the cloud LB, a model — and that node's BATON-XLB chain one
// of its own endpoints (kube-proxy's KUBE-SVL/KUBE-XLB chain); a node with none usable drops the SYN
// (KUBE-MARK-DROP), here by sending it to the blackhole namespace. Terminating endpoints get new flows only
// when no serving one is left (Kubernetes ≥ 1.26, KEP-1669). No endpoint at all: REJECT in the filter table.

export const SERVICE_ADDRESS = '10.214.255.1';
export const SERVICE_PORT = 80;
/** Where the blackhole namespace lives: an address that answers nothing (a SYN a node drops). */
export const BLACKHOLE_ADDRESS = '10.214.1.254';

export interface KernelEndpoint {
  /** The pod (from addPod). */
  pod: string;
  port: number;
  /** Serving: it passes its readiness probe (a terminating pod may still serve: EndpointSlice `serving`). */
  ready: boolean;
  terminating: boolean;
  /** The node the pod runs on: required with externalTrafficPolicy Local. */
  node?: string;
}

export interface KernelRouting {
  externalTrafficPolicy: 'Cluster' | 'Local';
  /** Kubernetes ≥ 1.26 (KEP-1669): with no serving endpoint, the serving terminating ones get new flows. */
  proxyTerminatingEndpoints: boolean;
  /** Local: the nodes the cloud LB sends new connections to (its health checks' view). Default: every node. */
  lbNodes?: string[];
}

export const CLUSTER_ROUTING: KernelRouting = { externalTrafficPolicy: 'Cluster', proxyTerminatingEndpoints: true };

/** The nat table (rewritten whole) and the filter table's BATON-NO-ENDPOINTS chain (restored with --noflush). */
export interface ServiceRules {
  nat: string;
  filter: string;
}

/** The rules for `endpoints`; `addressOf` gives a pod's address. */
export function kubeProxyRules(
  endpoints: KernelEndpoint[],
  routing: KernelRouting,
  addressOf: (pod: string) => string,
): ServiceRules {
  const usable = (candidates: KernelEndpoint[]) => {
    const serving = candidates.filter((e) => e.ready && !e.terminating);
    if (serving.length > 0 || !routing.proxyTerminatingEndpoints) return serving;
    return candidates.filter((e) => e.ready && e.terminating);
  };
  const sep = new Map<KernelEndpoint, string>();
  const chains: string[] = [];
  const rules: string[] = [];
  const pick = (chain: string, targets: string[]) =>
    targets.forEach((target, i) => {
      const rest = targets.length - i;
      rules.push(
        rest > 1
          ? `-A ${chain} -m statistic --mode random --probability ${(1 / rest).toFixed(11)} -j ${target}`
          : `-A ${chain} -j ${target}`,
      );
    });
  const endpointChains = (chosen: KernelEndpoint[]) =>
    chosen.map((endpoint) => {
      let chain = sep.get(endpoint);
      if (!chain) {
        chain = `BATON-SEP-${sep.size}`;
        sep.set(endpoint, chain);
        chains.push(chain);
        rules.push(`-A ${chain} -p tcp -j DNAT --to-destination ${addressOf(endpoint.pod)}:${endpoint.port}`);
      }
      return chain;
    });
  let entry: string | undefined;
  if (routing.externalTrafficPolicy === 'Cluster') {
    const chosen = usable(endpoints);
    if (chosen.length > 0) {
      entry = 'BATON-SVC';
      chains.push(entry);
      pick(entry, endpointChains(chosen));
    }
  } else if (endpoints.length > 0) {
    const nodeOf = (endpoint: KernelEndpoint): string => {
      if (endpoint.node === undefined)
        throw new RangeError(`externalTrafficPolicy Local needs each endpoint's node (pod ${endpoint.pod} has none)`);
      return endpoint.node;
    };
    const nodes = [...new Set(endpoints.map(nodeOf))];
    const lbNodes = (routing.lbNodes ?? nodes).filter((node) => nodes.includes(node));
    entry = 'BATON-LB';
    chains.push(entry, 'BATON-NODE-DROP');
    rules.push(`-A BATON-NODE-DROP -p tcp -j DNAT --to-destination ${BLACKHOLE_ADDRESS}`);
    const nodeChains = (lbNodes.length > 0 ? lbNodes : nodes).map((node, k) => {
      const chain = `BATON-XLB-${k}`;
      chains.push(chain);
      const chosen = usable(endpoints.filter((endpoint) => nodeOf(endpoint) === node));
      if (chosen.length === 0) rules.push(`-A ${chain} -j BATON-NODE-DROP`);
      else pick(chain, endpointChains(chosen));
      return chain;
    });
    pick(entry, nodeChains);
  }
  // The node's nat table holds only this Service: rewritten whole, in one transaction (conntrack keeps the
  // established flows' translations whatever the table says now).
  const nat = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':BATON-SERVICES - [0:0]',
    ...chains.map((chain) => `:${chain} - [0:0]`),
    '-A PREROUTING -j BATON-SERVICES',
    ...(entry ? [`-A BATON-SERVICES -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j ${entry}`] : []),
    ...rules,
    'COMMIT',
    '',
  ];
  // A Service without endpoints: kube-proxy rejects its connects (ICMP port unreachable), so they fail at once.
  // A chain named in a --noflush restore is flushed and refilled; the rest of the filter table stays.
  const filter = ['*filter', ':BATON-NO-ENDPOINTS - [0:0]'];
  if (!entry) filter.push(`-A BATON-NO-ENDPOINTS -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j REJECT`);
  filter.push('COMMIT', '');
  return { nat: nat.join('\n'), filter: filter.join('\n') };
}
