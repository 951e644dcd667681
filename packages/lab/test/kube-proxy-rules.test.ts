// kube-proxy's iptables rules as the kernel data path writes them: a pure function, checked here without root
// (kernel-dataplane.test.ts checks what the kernel then does with them).

import { describe, expect, it } from 'vitest';
import {
  BLACKHOLE_ADDRESS,
  type KernelEndpoint,
  kubeProxyRules,
  SERVICE_ADDRESS,
  SERVICE_PORT,
} from '../src/datapath/kernel/kube-proxy-rules.js';

const addressOf = (pod: string) => `10.214.1.${pod.charCodeAt(0) - 95}`; // a → .2, b → .3, …
const cluster = { externalTrafficPolicy: 'Cluster', proxyTerminatingEndpoints: true } as const;
const local = { externalTrafficPolicy: 'Local', proxyTerminatingEndpoints: true } as const;
const endpoint = (pod: string, extra: Partial<KernelEndpoint> = {}): KernelEndpoint => ({
  pod,
  port: 8080,
  ready: true,
  terminating: false,
  ...extra,
});
const lines = (table: string) => table.split('\n').filter((line) => line.startsWith('-A'));

describe('kubeProxyRules', () => {
  it('Cluster: the Service jumps to one chain per serving endpoint with probabilities 1/(n−i), each DNAT to its pod', () => {
    const { nat, filter } = kubeProxyRules([endpoint('a'), endpoint('b'), endpoint('c')], cluster, addressOf);
    expect(lines(nat)).toEqual([
      '-A PREROUTING -j BATON-SERVICES',
      `-A BATON-SERVICES -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j BATON-SVC`,
      '-A BATON-SEP-0 -p tcp -j DNAT --to-destination 10.214.1.2:8080',
      '-A BATON-SEP-1 -p tcp -j DNAT --to-destination 10.214.1.3:8080',
      '-A BATON-SEP-2 -p tcp -j DNAT --to-destination 10.214.1.4:8080',
      '-A BATON-SVC -m statistic --mode random --probability 0.33333333333 -j BATON-SEP-0',
      '-A BATON-SVC -m statistic --mode random --probability 0.50000000000 -j BATON-SEP-1',
      '-A BATON-SVC -j BATON-SEP-2',
    ]);
    expect(lines(filter)).toEqual([]);
    expect(nat.startsWith('*nat\n')).toBe(true);
    expect(nat.trimEnd().endsWith('COMMIT')).toBe(true);
  });

  it('terminating endpoints get new flows only when none serves (KEP-1669), and not at all before 1.26', () => {
    const mixed = [endpoint('a', { terminating: true }), endpoint('b')];
    expect(lines(kubeProxyRules(mixed, cluster, addressOf).nat).filter((l) => l.includes('DNAT'))).toEqual([
      '-A BATON-SEP-0 -p tcp -j DNAT --to-destination 10.214.1.3:8080',
    ]);
    const allTerminating = [endpoint('a', { terminating: true }), endpoint('b', { terminating: true })];
    expect(
      lines(kubeProxyRules(allTerminating, cluster, addressOf).nat).filter((l) => l.includes('DNAT')),
    ).toHaveLength(2);
    const before126 = kubeProxyRules(allTerminating, { ...cluster, proxyTerminatingEndpoints: false }, addressOf);
    expect(lines(before126.nat).some((l) => l.includes('DNAT'))).toBe(false);
    // No usable endpoint: the Service's connects are rejected at once.
    expect(lines(before126.filter)).toEqual([
      `-A BATON-NO-ENDPOINTS -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j REJECT`,
    ]);
    // An endpoint that is not ready never gets a flow, terminating or not.
    const unready = kubeProxyRules([endpoint('a', { ready: false })], cluster, addressOf);
    expect(lines(unready.filter)).toHaveLength(1);
  });

  it('Local: the LB picks among its healthy nodes, each node among its own endpoints; a node with none drops', () => {
    const endpoints = [
      endpoint('a', { node: 'n1' }),
      endpoint('b', { node: 'n2', terminating: true }),
      endpoint('c', { node: 'n3', ready: false }),
    ];
    const { nat } = kubeProxyRules(endpoints, { ...local, lbNodes: ['n1', 'n3'] }, addressOf);
    expect(lines(nat)).toEqual([
      '-A PREROUTING -j BATON-SERVICES',
      `-A BATON-SERVICES -d ${SERVICE_ADDRESS}/32 -p tcp --dport ${SERVICE_PORT} -j BATON-LB`,
      `-A BATON-NODE-DROP -p tcp -j DNAT --to-destination ${BLACKHOLE_ADDRESS}`,
      '-A BATON-SEP-0 -p tcp -j DNAT --to-destination 10.214.1.2:8080',
      '-A BATON-XLB-0 -j BATON-SEP-0',
      '-A BATON-XLB-1 -j BATON-NODE-DROP',
      '-A BATON-LB -m statistic --mode random --probability 0.50000000000 -j BATON-XLB-0',
      '-A BATON-LB -j BATON-XLB-1',
    ]);
    // The node whose only pod terminates: its local terminating endpoint (≥ 1.26), or a drop (< 1.26).
    const n2 = (proxyTerminatingEndpoints: boolean) =>
      lines(kubeProxyRules(endpoints, { ...local, proxyTerminatingEndpoints, lbNodes: ['n2'] }, addressOf).nat);
    expect(n2(true)).toContain('-A BATON-SEP-0 -p tcp -j DNAT --to-destination 10.214.1.3:8080');
    expect(n2(false)).toContain('-A BATON-XLB-0 -j BATON-NODE-DROP');
  });

  it('Local: with no healthy node the LB sends to every node; an endpoint without a node is refused', () => {
    const endpoints = [endpoint('a', { node: 'n1' }), endpoint('b', { node: 'n2' })];
    const { nat } = kubeProxyRules(endpoints, { ...local, lbNodes: [] }, addressOf);
    expect(lines(nat).filter((l) => l.startsWith('-A BATON-LB'))).toHaveLength(2);
    expect(() => kubeProxyRules([endpoint('a')], local, addressOf)).toThrow(/needs each endpoint's node/);
  });
});
