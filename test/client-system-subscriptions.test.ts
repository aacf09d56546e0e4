import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORTS, connectClient, watchSubscription } from './support/client.ts';
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

describe('the TEST set beyond the original scenarios', () => {
  it('serves a fixed few items: another name is refused, not a counter started for it', async () => {
    const watched = await connectClient(origin.url, { adapterSet: 'TEST', transport: 'WS-STREAMING' });
    try {
      for (const [dataAdapter, item] of [['COUNT', 'count2'], ['JSON_COUNT', 'x'], ['STRANGE_NAMES', 'strange:other']]) {
        const sub = watchSubscription(watched.client, { mode: 'MERGE', items: [item], fields: ['count'], dataAdapter });
        expect(await sub.error()).toMatchObject({ code: 21 });
      }
    } finally {
      await watched.disconnect();
    }
  });
});
