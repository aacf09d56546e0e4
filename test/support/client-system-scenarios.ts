/**
 * The client library's system test scenarios (Lightstreamer-lib-client-haxe's TestClient, Apache-2.0;
 * see ../shared/reference/lightstreamer-client-tests/) written for the official Node client against
 * the TEST adapter set, each with the original's expectations. Listeners only record what they see:
 * assertions run in the test, where a failure is reported (the client swallows listener exceptions).
 */
import ls from 'lightstreamer-client-node';
import { expect } from 'vitest';
import type { Client, LsSubscription } from './client.ts';
import { completion, type Scenario } from './client-system.ts';

const { Subscription } = ls;

function countSubscription(): LsSubscription {
  const sub = new Subscription('MERGE', ['count'], ['count']);
  sub.setDataAdapter('COUNT');
  return sub;
}

/** The client takes a number or a string; its typings say number only. */
function requestFrequency(sub: LsSubscription, frequency: string): void {
  sub.setRequestedMaxFrequency(frequency as unknown as number);
}

/** Resolves with the status once the client reports `status`. */
function statusReached(client: Client, status: string) {
  const reached = completion<string>(`status ${status}`);
  const seen: string[] = [];
  client.addListener({
    onStatusChange(s: string) {
      seen.push(s);
      if (s === status) reached.resolve(client.getStatus());
    },
  });
  return reached.promise.catch((err: Error) => {
    throw new Error(`${err.message}; statuses ${seen.join(' > ')}`);
  });
}

export const SESSION_SCENARIOS: Record<string, Scenario> = {
  async connect(ctx) {
    const client = ctx.client();
    const connected = statusReached(client, `CONNECTED:${ctx.transport}`);
    client.connect();
    expect(await connected).toBe(`CONNECTED:${ctx.transport}`);
  },

  async 'error: an unknown adapter set'(ctx) {
    const client = ctx.client('XXX');
    const error = completion<string>('onServerError');
    client.addListener({ onServerError: (code: number, message: string) => error.resolve(`${code} ${message}`) });
    client.connect();
    expect(await error.promise).toBe('2 Requested Adapter Set not available');
  },

  async disconnect(ctx) {
    const client = ctx.client();
    const disconnected = completion<string>('DISCONNECTED after CONNECTED');
    client.addListener({
      onStatusChange(status: string) {
        if (status === `CONNECTED:${ctx.transport}`) client.disconnect();
        else if (status === 'DISCONNECTED') disconnected.resolve(client.getStatus());
      },
    });
    client.connect();
    expect(await disconnected.promise).toBe('DISCONNECTED');
  },

  async 'extra HTTP headers'(ctx) {
    const client = ctx.client();
    client.connectionOptions.setHttpExtraHeaders({ hello: 'header' });
    const connected = statusReached(client, `CONNECTED:${ctx.transport}`);
    client.connect();
    await connected;
    expect(client.connectionOptions.getHttpExtraHeaders()).toMatchObject({ hello: 'header' });
  },
};

/** A message listener that signals each outcome as the original's listeners do. */
function messageListener(signal: (s: string) => void) {
  return {
    onProcessed: (msg: string, response: string) => signal(`onProcessed \`${msg}\` \`${response}\``),
    onDeny: (msg: string, code: number, error: string) => signal(`onDeny \`${msg}\` ${code} \`${error}\``),
    onAbort: (msg: string) => signal(`onAbort \`${msg}\``),
    onDiscarded: (msg: string) => signal(`onDiscarded \`${msg}\``),
    onError: (msg: string) => signal(`onError \`${msg}\``),
  };
}

/** The original's long message: a JSON envelope around a thousand non-BMP characters (about 12 KB encoded). */
const LONG_MESSAGE = JSON.stringify({
  n: 'MESSAGE_SEND',
  c: { u: 'GEiIxthxD-1gf5Tk5O1NTw', s: 'S29120e92e162c244T2004863', p: 'localhost:3000/html/widget-responsive.html', t: '2017-08-08T10:20:05.665Z' },
  d: JSON.stringify({ p: '🌐'.repeat(1000) }),
});

export const MESSAGE_SCENARIOS: Record<string, Scenario> = {
  async 'messages with and without sequence and listener'(ctx) {
    const client = ctx.client();
    const exps = ctx.expectations();
    const listener = messageListener((s) => exps.signal(s));
    await exps
      .then(() => client.connect())
      // No outcome expected for these two: no listener.
      .then(() => client.sendMessage('test message ()', undefined, 0, undefined, true))
      .then(() => client.sendMessage('test message (sequence)', 'test_seq', 0, undefined, true))
      .then(() => client.sendMessage('test message (listener)', undefined, -1, listener, true))
      .await('onProcessed `test message (listener)` ``')
      .then(() => client.sendMessage('test message (sequence+listener)', 'test_seq', -1, listener, true))
      .await('onProcessed `test message (sequence+listener)` ``')
      .verify();
  },

  async 'message with a return value'(ctx) {
    const client = ctx.client();
    const exps = ctx.expectations();
    await exps
      .then(() => client.connect())
      .then(() => client.sendMessage('give me a result', 'test_seq', -1, messageListener((s) => exps.signal(s)), true))
      .await('onProcessed `give me a result` `result:ok`')
      .verify();
  },

  async 'message with special characters'(ctx) {
    const client = ctx.client();
    const processed = completion<string>('onProcessed');
    client.connect();
    client.sendMessage('hello +&=%\r\n', undefined, -1, { onProcessed: (msg: string) => processed.resolve(msg) }, false);
    expect(await processed.promise).toBe('hello +&=%\r\n');
  },

  async 'unordered message'(ctx) {
    const client = ctx.client();
    const processed = completion<string>('onProcessed');
    client.connect();
    client.sendMessage('test message', 'UNORDERED_MESSAGES', -1, { onProcessed: (msg: string) => processed.resolve(msg) }, false);
    expect(await processed.promise).toBe('test message');
  },

  async 'message denied by the metadata adapter'(ctx) {
    const client = ctx.client();
    const denied = completion<[string, number, string]>('onDeny');
    client.connect();
    client.sendMessage('throw me an error', 'test_seq', -1, { onDeny: (msg: string, code: number, error: string) => denied.resolve([msg, code, error]) }, false);
    expect(await denied.promise).toEqual(['throw me an error', -123, 'test error']);
  },

  async 'long message'(ctx) {
    const client = ctx.client();
    const processed = completion<string>('onProcessed');
    client.connect();
    client.sendMessage(LONG_MESSAGE, 'test_seq', -1, { onProcessed: (msg: string) => processed.resolve(msg) }, false);
    expect(await processed.promise).toBe(LONG_MESSAGE);
  },
};

export const SUBSCRIPTION_SCENARIOS: Record<string, Scenario> = {
  async subscribe(ctx) {
    const client = ctx.client();
    const sub = countSubscription();
    const subscribed = completion<boolean>('onSubscription');
    sub.addListener({ onSubscription: () => subscribed.resolve(sub.isSubscribed()) });
    client.subscribe(sub);
    expect(client.getSubscriptions()).toEqual([sub]);
    client.connect();
    expect(await subscribed.promise).toBe(true);
  },

  async 'subscribe a group of no items'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('MERGE', ['empty_group'], ['count']);
    sub.setDataAdapter('COUNT');
    const error = completion<[number, string]>('onSubscriptionError');
    sub.addListener({ onSubscriptionError: (code: number, message: string) => error.resolve([code, message]) });
    client.subscribe(sub);
    client.connect();
    expect(await error.promise).toEqual([61, 'Expected 1 items but got 0']);
  },

  async 'subscription error: a mode the items do not allow'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('RAW', ['count'], ['count']);
    sub.setDataAdapter('COUNT');
    const error = completion<string>('onSubscriptionError');
    sub.addListener({ onSubscriptionError: (code: number, message: string) => error.resolve(`${code} ${message}`) });
    client.subscribe(sub);
    client.connect();
    expect(await error.promise).toBe('24 Invalid mode for these items');
  },

  async 'subscribe COMMAND'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('COMMAND', ['mult_table'], ['key', 'value1', 'value2', 'command']);
    sub.setDataAdapter('MULT_TABLE');
    const subscribed = completion<[boolean, number, number]>('onSubscription');
    sub.addListener({ onSubscription: () => subscribed.resolve([sub.isSubscribed(), sub.getKeyPosition(), sub.getCommandPosition()]) });
    client.subscribe(sub);
    client.connect();
    expect(await subscribed.promise).toEqual([true, 1, 4]);
  },

  async 'subscribe COMMAND with a second level'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('COMMAND', [`two_level_command_count${ctx.transport}`], ['key', 'command']);
    sub.setDataAdapter('TWO_LEVEL_COMMAND');
    sub.setCommandSecondLevelDataAdapter('COUNT');
    sub.setCommandSecondLevelFields(['count']);
    let onSubscription: [boolean, number, number] | null = null;
    const secondLevelUpdate = completion('an UPDATE of key `count` with a number from the second level');
    sub.addListener({
      onSubscription: () => void (onSubscription = [sub.isSubscribed(), sub.getKeyPosition(), sub.getCommandPosition()]),
      onItemUpdate(update: { getValue(field: string): string | null }) {
        if (/\d+/.test(update.getValue('count') ?? '') && update.getValue('key') === 'count' && update.getValue('command') === 'UPDATE') secondLevelUpdate.resolve();
      },
    });
    client.subscribe(sub);
    expect(client.getSubscriptions()).toEqual([sub]);
    client.connect();
    await secondLevelUpdate.promise;
    expect(onSubscription).toEqual([true, 1, 2]);
  },

  async unsubscribe(ctx) {
    const client = ctx.client();
    const sub = countSubscription();
    let subscribedWhenNotified = false;
    const unsubscribed = completion<[boolean, boolean]>('onUnsubscription');
    sub.addListener({
      onSubscription() {
        subscribedWhenNotified = sub.isSubscribed();
        client.unsubscribe(sub);
      },
      onUnsubscription: () => unsubscribed.resolve([sub.isSubscribed(), sub.isActive()]),
    });
    client.subscribe(sub);
    client.connect();
    expect(await unsubscribed.promise).toEqual([false, false]);
    expect(subscribedWhenNotified).toBe(true);
  },

  async 'subscribe non-ASCII and symbol names'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('MERGE', ['strange:àìùòlè'], ['value🌐-', 'value&+=\r\n%']);
    sub.setDataAdapter('STRANGE_NAMES');
    const subscribed = completion<boolean>('onSubscription');
    sub.addListener({ onSubscription: () => subscribed.resolve(sub.isSubscribed()) });
    client.subscribe(sub);
    client.connect();
    expect(await subscribed.promise).toBe(true);
  },

  async 'clear snapshot'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('DISTINCT', ['clear_snapshot'], ['dummy']);
    sub.setDataAdapter('CLEAR_SNAPSHOT');
    const cleared = completion<[string, number]>('onClearSnapshot');
    sub.addListener({ onClearSnapshot: (name: string, pos: number) => cleared.resolve([name, pos]) });
    client.subscribe(sub);
    client.connect();
    expect(await cleared.promise).toEqual(['clear_snapshot', 1]);
  },

  async 'end of snapshot'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('DISTINCT', ['end_of_snapshot'], ['value']);
    sub.setRequestedSnapshot('yes');
    sub.setDataAdapter('END_OF_SNAPSHOT');
    const ended = completion<[string, number]>('onEndOfSnapshot');
    sub.addListener({ onEndOfSnapshot: (name: string, pos: number) => ended.resolve([name, pos]) });
    client.subscribe(sub);
    client.connect();
    expect(await ended.promise).toEqual(['end_of_snapshot', 1]);
  },

  async frequency(ctx) {
    const client = ctx.client();
    const sub = countSubscription();
    const frequency = completion<string | null>('onRealMaxFrequency');
    sub.addListener({ onRealMaxFrequency: (freq: string | null) => frequency.resolve(freq) });
    client.subscribe(sub);
    client.connect();
    expect(await frequency.promise).toBe('unlimited');
  },

  async 'change frequency'(ctx) {
    const client = ctx.client();
    const sub = countSubscription();
    const exps = ctx.expectations();
    sub.addListener({ onRealMaxFrequency: (freq: string | null) => exps.signal(`frequency=${freq}`) });
    requestFrequency(sub, 'unlimited');
    client.subscribe(sub);
    client.connect();
    await exps
      .await('frequency=unlimited')
      .then(() => requestFrequency(sub, '2.5'))
      .await('frequency=2.5')
      .then(() => requestFrequency(sub, 'unlimited'))
      .await('frequency=unlimited')
      .verify();
  },
};
