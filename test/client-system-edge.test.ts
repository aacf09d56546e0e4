import { afterAll, beforeAll } from 'vitest';
import { runScenarios } from './support/client-system.ts';
import { MESSAGE_SCENARIOS, SESSION_SCENARIOS, SUBSCRIPTION_SCENARIOS } from './support/client-system-scenarios.ts';
import { DELTA_SCENARIOS } from './support/client-system-delta-scenarios.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The client library's system tests, part 3: every scenario of parts 1, 2 and 4 through the edge (the
 * real Worker in workerd) in front of two origins serving the TEST set — WS-STREAMING in mode path
 * (the client follows CONOK's `/s/<shard>` control link), HTTP-POLLING in mode session-id (every
 * poll and control request routed by the session id alone).
 */

const secrets = newSecrets();
const origins: OriginHandle[] = [];
let edge: EdgeHandle;

resolveLocalhostNames();

beforeAll(async () => {
  origins.push(
    ...(await Promise.all(
      ['t1', 't2'].map((id) => startOrigin({ SHARD_ID: id, SERVER_NAME: 'Lightstreamer HTTP Server', EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin })),
    )),
  );
  edge = await startEdge({
    secrets,
    shards: origins.map((o) => ({ id: o.shardId, url: o.url })),
    // Every scenario opens a session from the same address: no create rate limit.
    domains: [
      { host: 'localhost', modes: ['path'], createsPerMinute: 0 },
      { host: 'sid.localhost', modes: ['session-id'], createsPerMinute: 0 },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(origins.map((o) => o.stop()));
});

const scenarios = { ...SESSION_SCENARIOS, ...MESSAGE_SCENARIOS, ...SUBSCRIPTION_SCENARIOS, ...DELTA_SCENARIOS };
runScenarios(scenarios, ['WS-STREAMING'], () => edge.urlFor('localhost'), 'edge, mode path: ');
runScenarios(scenarios, ['HTTP-POLLING'], () => edge.urlFor('sid.localhost'), 'edge, mode session-id: ');
