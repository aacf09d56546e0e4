import ls from 'lightstreamer-client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORTS } from './support/client.ts';
import { runScenarios } from './support/client-system.ts';
import { MESSAGE_SCENARIOS, SESSION_SCENARIOS } from './support/client-system-scenarios.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/**
 * The client library's system tests, part 1 (support/client-system-scenarios.ts): sessions and
 * messages, with the official Node client on each forced transport against a real origin serving
 * the TEST adapter set, named as a Lightstreamer Server names itself.
 */

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ SERVER_NAME: 'Lightstreamer HTTP Server' });
});

afterAll(async () => {
  await origin?.stop();
});

describe('listeners', () => {
  it('are the ones added, on the client and on a subscription', () => {
    const client = new ls.LightstreamerClient(origin.url, 'TEST');
    const listener = {};
    client.addListener(listener);
    expect(client.getListeners()).toEqual([listener]);
    expect(client.getListeners()[0]).toBe(listener);
    const sub = new ls.Subscription('MERGE', ['count'], ['count']);
    const subListener = {};
    sub.addListener(subListener);
    expect(sub.getListeners()).toHaveLength(1);
    expect(sub.getListeners()[0]).toBe(subListener);
  });
});

runScenarios({ ...SESSION_SCENARIOS, ...MESSAGE_SCENARIOS }, TRANSPORTS, () => origin.url);
