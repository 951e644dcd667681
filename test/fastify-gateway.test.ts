import { fileURLToPath } from 'node:url';
import { defineGatewayDrainScenarios } from './scenarios/gateway-drain.js';
import { defineGatewayHandoffScenarios } from './scenarios/gateway-handoff.js';

const gateway = fileURLToPath(new URL('../examples/fastify-gateway/server.js', import.meta.url));
defineGatewayDrainScenarios('examples/fastify-gateway', gateway);
defineGatewayHandoffScenarios('examples/fastify-gateway', gateway);
