import { fileURLToPath } from 'node:url';
import { defineGatewayDrainScenarios } from './scenarios/gateway-drain.js';

defineGatewayDrainScenarios(
  'examples/ws-gateway',
  fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url)),
);
