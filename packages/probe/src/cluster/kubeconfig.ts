// The kubeconfig the probe reads the cluster with (the rollout watch, `check --live`): the file given, else the
// client's default sources; and the namespace: the one given, else the context's, else "default".

import { KubeConfig } from '@kubernetes/client-node';
import { ProbeError, ProbeErrorCodes } from '../errors.js';

export function loadKubeConfig(options: { kubeconfig?: string; namespace?: string }): {
  config: KubeConfig;
  namespace: string;
} {
  const config = new KubeConfig();
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new ProbeError(ProbeErrorCodes.KUBERNETES, `cannot read the kubeconfig: ${(error as Error).message}`);
  }
  const namespace = options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return { config, namespace };
}
