import { afterAll, beforeAll } from 'vitest';
import { TRANSPORTS } from './support/client.ts';
import { runScenarios } from './support/client-system.ts';
import { DELTA_SCENARIOS } from './support/client-system-delta-scenarios.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/**
 * The client library's system tests, part 4: the scenarios that need bandwidth management (CONS with
 * the metadata adapter's cap, constrain), lost updates under a bandwidth limit, JSON Patch and
 * TLCP-diff delivery — on each forced transport against a real origin serving the TEST set.
 */

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ SERVER_NAME: 'Lightstreamer HTTP Server' });
});

afterAll(async () => {
  await origin?.stop();
});

runScenarios(DELTA_SCENARIOS, TRANSPORTS, () => origin.url);
