import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe } from 'vitest';
import { defineGatewayDrainScenarios } from './scenarios/gateway-drain.js';
import { defineGatewayHandoffScenarios } from './scenarios/gateway-handoff.js';
import {
  makeTestCertificate,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
  type TestCertificate,
} from './support/redis-server.js';

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

// Memorystore's cluster mode with in-transit encryption: a Redis Cluster whose every port speaks TLS, reached
// through one node's rediss:// URL with the CA in a file (BATON_HANDOFF_STORE_CLUSTER, _CA_FILE).
describe('store mode on a real 3-master Redis Cluster over TLS', () => {
  let certificate: TestCertificate;
  let cluster: RedisCluster;
  beforeAll(async () => {
    certificate = await makeTestCertificate();
    cluster = await startRedisCluster({ tls: certificate });
  });
  afterAll(async () => {
    await cluster?.stop();
    await certificate?.remove();
  });
  defineGatewayHandoffScenarios('examples/ws-gateway (Redis Cluster, TLS)', gateway, () => ({
    BATON_HANDOFF_STORE_URL: cluster.nodes[0]?.url as string,
    BATON_HANDOFF_STORE_CLUSTER: 'true',
    BATON_HANDOFF_STORE_CA_FILE: certificate.certFile,
  }));
});
