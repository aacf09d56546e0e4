import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/**
 * More of the public demos' adapter sets on a real origin (demo-sets.test.ts has the first ones),
 * driven by the official Node client as the demos' front-ends drive them.
 */

let origin: OriginHandle;
const clients: WatchedClient[] = [];

beforeAll(async () => {
  origin = await startOrigin({ SHARD_ID: 'demo2' });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await origin?.stop();
});

function track(watched: WatchedClient): WatchedClient {
  clients.push(watched);
  return watched;
}

describe('AUTHDEMO', () => {
  /** As the demo page connects once its (simulated) web server gave it a token for the user. */
  async function login(user: string, token: string): Promise<WatchedClient> {
    const watched = track(createClient(origin.url, { adapterSet: 'AUTHDEMO', transport: 'WS-STREAMING' }));
    watched.client.connectionDetails.setUser(user);
    watched.client.connectionDetails.setPassword(token);
    watched.client.connect();
    return watched;
  }
  const quoteOf = (c: WatchedClient, item: string) => watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER', snapshot: 'yes' });

  it('user1 with its token sees item1…item3 and is refused the others with the demo’s message', async () => {
    const user1 = await login('user1', 'ikgdfigdfhihdsih');
    await user1.status(/^CONNECTED:WS-STREAMING$/);
    const allowed = quoteOf(user1, 'item2');
    await allowed.until((u) => u.some((x) => x.snapshot && Number(x.values.last_price) > 0), 'item2’s price');
    const refused = quoteOf(user1, 'item4');
    expect(await refused.error()).toEqual({ code: -1, message: 'You are not authorized to see this item' });
  });

  it('lucky sees only item13 and item17; gollum nothing', async () => {
    const lucky = await login('lucky', 'srsly');
    await lucky.status(/^CONNECTED:WS-STREAMING$/);
    await quoteOf(lucky, 'item17').subscribed();
    expect((await quoteOf(lucky, 'item1').error()).code).toBe(-1);
    const gollum = await login('gollum', 'toobadforyou');
    await gollum.status(/^CONNECTED:WS-STREAMING$/);
    expect((await quoteOf(gollum, 'item13').error()).code).toBe(-1);
  });

  it('a wrong or outdated token, an unknown user and no user are refused with 1', async () => {
    for (const [user, token] of [
      ['patient0', 'imwrongtoken'],
      ['user1', 'srsly'],
      ['constructor', 'x'],
    ]) {
      const refused = await login(user, token);
      await refused.status(/DISCONNECTED/, 1);
      expect(refused.serverErrors[0]).toMatchObject({ code: 1 });
    }
    const anonymous = track(createClient(origin.url, { adapterSet: 'AUTHDEMO' }));
    anonymous.client.connect();
    await anonymous.status(/DISCONNECTED/, 1);
    expect(anonymous.serverErrors[0]).toMatchObject({ code: 1 });
  });
});

