import { afterAll, beforeAll } from 'vitest';
import { TRANSPORTS } from './support/client.ts';
import { runScenarios } from './support/client-system.ts';
import { SUBSCRIPTION_SCENARIOS } from './support/client-system-scenarios.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/**
 * The client library's system tests, part 2 (support/client-system-scenarios.ts): subscriptions to
 * the TEST data adapters — counting, refused, empty, COMMAND with one and two levels, strange names,
 * snapshots cleared and ended, frequencies — on each forced transport against a real origin.
 */

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ SERVER_NAME: 'Lightstreamer HTTP Server' });
});

afterAll(async () => {
  await origin?.stop();
});

runScenarios(SUBSCRIPTION_SCENARIOS, TRANSPORTS, () => origin.url);
