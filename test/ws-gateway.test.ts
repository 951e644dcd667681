import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe } from 'vitest';
import { defineGatewayDrainScenarios } from './scenarios/gateway-drain.js';
import { defineGatewayHandoffScenarios } from './scenarios/gateway-handoff.js';
import { type RedisServer, startRedisServer } from './support/redis-server.js';

const gateway = fileURLToPath(new URL('../examples/ws-gateway/server.js', import.meta.url));
defineGatewayDrainScenarios('examples/ws-gateway', gateway);
defineGatewayHandoffScenarios('examples/ws-gateway', gateway);

// The same release with the sessions in Redis (store mode, BATON_HANDOFF_STORE_URL) instead of in the tokens.
describe('store mode on a real redis-server', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis?.stop());
  defineGatewayHandoffScenarios('examples/ws-gateway (Redis store)', gateway, () => ({
    BATON_HANDOFF_STORE_URL: redis.url,
  }));
});
