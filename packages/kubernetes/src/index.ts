export { type ErrorCode, ErrorCodes } from './errors.js';
export { type KubernetesRolloutHoldOptions, kubernetesRolloutHold } from './kubernetes-rollout-hold.js';
