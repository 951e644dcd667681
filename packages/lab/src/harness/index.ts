// The lab's parts that other packages' tests use, in one place: start a gateway (or any Baton process) as a
// real child process and wait on its log lines, write its drain budget, put the Node balancer (the Service's
// data path with a propagation lag) in front of it, serve an emulated pod API to the rollout hold, and make
// and remove network namespaces (the kernel data path's plumbing).
// Tests import this module and nothing else of the lab's source.

export { KubeApi, type KubeApiControls } from '../cluster/kube-api.js';
export { APP_LABEL, LAB_NAMESPACE, PodStore } from '../cluster/pod-store.js';
export { addNamespace, inNamespace, namespaces, removeNamespace } from '../datapath/kernel/netns.js';
export { NodeBalancer, type NodeBalancerOptions } from '../datapath/node/node-balancer.js';
export {
  budgetEnv,
  type GatewayProcess,
  type LogLine,
  type StartGatewayOptions,
  startGateway,
} from './gateway-launcher.js';
