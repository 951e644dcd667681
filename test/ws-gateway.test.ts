import { fileURLToPath } from 'node:url';
import { defineGatewayDrainScenarios } from './scenarios/gateway-drain.js';
import { defineGatewayHandoffScenarios } from './scenarios/gateway-handoff.js';

const gateway = fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url));
defineGatewayDrainScenarios('examples/ws-gateway', gateway);
defineGatewayHandoffScenarios('examples/ws-gateway', gateway);
