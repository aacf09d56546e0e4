import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, createClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';
import { drive, LAP_KM, START, type CarState, type Lap } from '../origin/adapters/demo/race-telemetry.ts';
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


describe('MESSENGER', () => {
  const IM_FIELDS = ['fromNick', 'toNick', 'message'];
  /** As the demo page does once a nickname is chosen: its own messages, then the buddy list. */
  async function join(nick: string, transport: 'WS-STREAMING' | 'HTTP-STREAMING') {
    const watched = track(await connectClient(origin.url, { adapterSet: 'MESSENGER', transport }));
    const im = watchSubscription(watched.client, { mode: 'DISTINCT', items: [`im_${nick}`], fields: IM_FIELDS, dataAdapter: 'SIMPLE_MESSENGER', snapshot: 30 });
    await im.subscribed();
    const buddies = watchSubscription(watched.client, { mode: 'COMMAND', items: ['buddy_list'], fields: ['command', 'key'], dataAdapter: 'SIMPLE_MESSENGER', snapshot: 'yes' });
    await buddies.subscribed();
    const present = () => {
      const keys = new Set<string>();
      for (const u of buddies.updates) u.values.command === 'DELETE' ? keys.delete(u.key!) : keys.add(u.key!);
      return keys;
    };
    return { ...watched, im, buddies, present };
  }

  it('lists who holds a nick, and delivers IM|from|to|text to both ends as the demo shows them', async () => {
    const alice = await join('alice', 'WS-STREAMING');
    const bob = await join('bob', 'HTTP-STREAMING');
    await alice.buddies.until(() => alice.present().has('bob') && alice.present().has('alice'), 'alice and bob listed');
    expect(bob.buddies.updates.filter((u) => u.snapshot).map((u) => u.key)).toContain('alice');
    await bob.buddies.until(() => bob.present().has('bob'), 'bob listed for bob');

    expect(await sendMessage(alice.client, 'IM|alice|bob|hi | there')).toEqual({ kind: 'processed', response: '' });
    await bob.im.until((u) => u.some((x) => x.values.message === 'hi | there'), 'the message at bob');
    expect(bob.im.updates.at(-1)!.values).toEqual({ fromNick: 'alice', toNick: 'me', message: 'hi | there' });
    await alice.im.until((u) => u.some((x) => x.values.message === 'hi | there'), 'the copy at alice');
    expect(alice.im.updates.at(-1)!.values).toEqual({ fromNick: 'me', toNick: 'bob', message: 'hi | there' });

    expect(await sendMessage(alice.client, 'IM|alice|alice|note to self')).toEqual({ kind: 'processed', response: '' });
    await alice.im.until((u) => u.some((x) => x.values.message === 'note to self'), 'the note');
    expect(alice.im.updates.at(-1)!.values).toEqual({ fromNick: 'me', toNick: 'me', message: 'note to self' });
    expect(await sendMessage(alice.client, 'IM|alice|carol|anyone?')).toEqual({ kind: 'processed', response: '' });
    await alice.im.until((u) => u.some((x) => x.values.message === 'anyone?'), 'the undelivered message');
    expect(alice.im.updates.at(-1)!.values).toEqual({ fromNick: 'me', toNick: 'nobody', message: 'anyone?' });

    expect(await sendMessage(alice.client, 'IM|alice|bob')).toMatchObject({ kind: 'deny', code: -1 });
    expect(await sendMessage(alice.client, `IM|alice|bob|${'x'.repeat(2001)}`)).toMatchObject({ kind: 'deny', code: -2 });

    // Bob leaves: he is gone from the list, and whoever takes the nick next starts with no messages.
    bob.client.unsubscribe(bob.im.sub);
    await alice.buddies.until(() => !alice.present().has('bob'), 'bob gone from the list');
    const newBob = await join('bob', 'WS-STREAMING');
    await newBob.im.until(() => newBob.im.endOfSnapshot.length > 0, 'the end of the snapshot');
    expect(newBob.im.updates).toEqual([]);
    await alice.buddies.until(() => alice.present().has('bob'), 'bob back in the list');
  });

  it('refuses modes the demo’s adapters.xml does not allow and items it has not', async () => {
    const { client } = track(await connectClient(origin.url, { adapterSet: 'MESSENGER' }));
    expect((await watchSubscription(client, { mode: 'MERGE', items: ['buddy_list'], fields: ['key'], dataAdapter: 'SIMPLE_MESSENGER' }).error()).code).toBe(24);
    expect((await watchSubscription(client, { mode: 'MERGE', items: ['im_dave'], fields: ['message'], dataAdapter: 'SIMPLE_MESSENGER' }).error()).code).toBe(24);
    expect((await watchSubscription(client, { mode: 'DISTINCT', items: ['im_'], fields: ['message'], dataAdapter: 'SIMPLE_MESSENGER' }).error()).code).toBe(21);
  });
});

describe('F1Telemetry', () => {
  it('P_driver_1 streams the car’s packets while subscribed; L_driver_1 takes DISTINCT only', async () => {
    const { client } = track(await connectClient(origin.url, { adapterSet: 'F1Telemetry', transport: 'HTTP-STREAMING' }));
    const fields = ['TIME', 'Distance', 'Speed', 'Rpm', 'Gear_output', 'ABS', 'LAP'];
    const packets = watchSubscription(client, { mode: 'MERGE', items: ['P_driver_1'], fields, dataAdapter: 'FORMULA1_ADAPTER', snapshot: 'yes' });
    const laps = watchSubscription(client, { mode: 'DISTINCT', items: ['L_driver_1'], fields: ['lap', 'lapTime', 'avgSpeed', 'avgSpeedTot'], dataAdapter: 'FORMULA1_ADAPTER', snapshot: 'yes' });
    await laps.subscribed();
    await packets.until((u) => u.length >= 5, 'five packets');
    expect(packets.updates[0].snapshot).toBe(true);
    for (const { values } of packets.updates) {
      expect(Number(values.Speed)).toBeGreaterThan(0);
      expect(Number(values.Gear_output)).toBeGreaterThanOrEqual(1);
      expect(Number(values.Rpm)).toBeGreaterThan(0);
      expect(values.LAP).toBe('1');
    }
    const distances = packets.updates.map((u) => Number(u.values.Distance));
    expect(distances.at(-1)!).toBeGreaterThan(distances[0]);
    expect((await watchSubscription(client, { mode: 'MERGE', items: ['L_driver_1'], fields: ['lap'], dataAdapter: 'FORMULA1_ADAPTER' }).error()).code).toBe(24);
  });

  it('a lap is completed every 4.8 km, with its time and the averages the demo charts', () => {
    // Laps take over a minute of real time: the simulation's steps are checked directly.
    let car: CarState = START;
    let last: Lap | null = null;
    const laps: Lap[] = [];
    for (let step = 0; laps.length < 3 && step < 100_000; step++) {
      const next = drive(car, 100, last);
      car = next.car;
      if (next.lap) laps.push((last = next.lap));
    }
    expect(laps.map((l) => l.lap)).toEqual([1, 2, 3]);
    const total = laps.reduce((ms, l) => ms + l.lapTime, 0);
    for (const l of laps) expect(l.avgSpeed).toBeCloseTo((LAP_KM / l.lapTime) * 3_600_000, 6);
    expect(laps[2].avgSpeedTot).toBeCloseTo((3 * LAP_KM) / (total / 3_600_000), 6);
    expect(car.lap).toBe(4);
  });
});
