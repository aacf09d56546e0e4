import ls from 'lightstreamer-client-node';
import { expect } from 'vitest';
import type { Client, LsSubscription } from './client.ts';
import { completion, type Scenario } from './client-system.ts';

/**
 * The client library's system test scenarios that need bandwidth management (CONS with the metadata
 * adapter's cap, constrain), lost updates under a bandwidth limit, JSON Patch and TLCP-diff delivery:
 * run against an origin (client-system-deltas) and through the edge (client-system-edge).
 */

const { Subscription } = ls;

interface Update {
  getValue(fieldNameOrPos: string | number): string | null;
  getValueAsJSONPatchIfAvailable(fieldNameOrPos: string | number): unknown;
}

/** The client takes a number or a string (as the original passes it); its typings say number only. */
function requestBandwidth(options: Client['connectionOptions'], bandwidth: string): void {
  options.setRequestedMaxBandwidth(bandwidth as unknown as number);
}

function countSubscription(dataAdapter: string): LsSubscription {
  const sub = new Subscription('MERGE', ['count'], ['count']);
  sub.setDataAdapter(dataAdapter);
  return sub;
}

/** The second update of a fresh COUNT-like subscription without snapshot: the first that can be a delta. */
async function secondUpdate(client: Client, dataAdapter: string): Promise<Update> {
  const sub = countSubscription(dataAdapter);
  sub.setRequestedSnapshot('no');
  const updates: Update[] = [];
  const second = completion<Update>('two updates');
  sub.addListener({
    onItemUpdate(update: Update) {
      updates.push(update);
      if (updates.length === 2) second.resolve(update);
    },
  });
  client.subscribe(sub);
  client.connect();
  return second.promise;
}

export const DELTA_SCENARIOS: Record<string, Scenario> = {
  async bandwidth(ctx) {
    const client = ctx.client();
    const options = client.connectionOptions;
    const exps = ctx.expectations();
    client.addListener({
      onPropertyChange(property: string) {
        if (property === 'realMaxBandwidth') exps.signal(`realMaxBandwidth=${options.getRealMaxBandwidth()}`);
      },
    });
    expect(options.getRequestedMaxBandwidth()).toBe('unlimited');
    await exps
      .then(() => client.connect())
      // The server announces the metadata adapter's cap as soon as the session starts.
      .await('realMaxBandwidth=40')
      .then(() => requestBandwidth(options, '20.1'))
      .await('realMaxBandwidth=20.1')
      // Above the cap: cut to it.
      .then(() => requestBandwidth(options, '70.1'))
      .await('realMaxBandwidth=40')
      .then(() => requestBandwidth(options, '39'))
      .await('realMaxBandwidth=39')
      .then(() => requestBandwidth(options, 'unlimited'))
      .await('realMaxBandwidth=40')
      .verify();
  },

  async 'round trip'(ctx) {
    const client = ctx.client();
    const { connectionDetails: details, connectionOptions: options } = client;
    expect(details.getAdapterSet()).toBe('TEST');
    expect(details.getServerAddress()).toBe(ctx.url);
    expect(options.getContentLength()).toBe(50_000_000);
    expect(options.getRetryDelay()).toBe(4000);
    expect(options.getSessionRecoveryTimeout()).toBe(15_000);
    const sub = countSubscription('COUNT');
    expect(sub.getDataAdapter()).toBe('COUNT');
    expect(sub.getMode()).toBe('MERGE');
    const exps = ctx.expectations();
    let updated = false;
    sub.addListener({
      onSubscription: () => exps.signal('onSubscription'),
      // COUNT steps several times a second: the scenario is about the first update only.
      onItemUpdate() {
        if (updated) return;
        updated = true;
        exps.signal('onItemUpdate');
      },
      onUnsubscription: () => exps.signal('onUnsubscription'),
      onRealMaxFrequency: (frequency: string | null) => exps.signal(`onRealMaxFrequency ${frequency}`),
    });
    client.addListener({
      onPropertyChange(property: string) {
        if (property === 'sessionId') exps.signal(`sessionId: ${details.getSessionId() === null ? 'null' : 'not null'}`);
        else if (property === 'clientIp') exps.signal(`clientIp: ${details.getClientIp()}`);
        else if (property === 'serverSocketName') exps.signal(`serverSocketName: ${details.getServerSocketName()}`);
        else if (property === 'realMaxBandwidth') exps.signal(`realMaxBandwidth: ${options.getRealMaxBandwidth()}`);
      },
    });
    await exps
      .then(() => client.connect())
      .then(() => client.subscribe(sub))
      .await('sessionId: not null')
      .await('serverSocketName: Lightstreamer HTTP Server')
      .await('clientIp: 127.0.0.1')
      .await('realMaxBandwidth: 40')
      .await('onSubscription')
      .await('onRealMaxFrequency unlimited')
      .await('onItemUpdate')
      .then(() => client.unsubscribe(sub))
      .await('onUnsubscription')
      .then(() => client.disconnect())
      .await('sessionId: null')
      .await('serverSocketName: null')
      .await('clientIp: null')
      .await('realMaxBandwidth: null')
      .verify();
  },

  async 'lost updates under a bandwidth limit'(ctx) {
    const client = ctx.client();
    const sub = new Subscription('MERGE', ['overflow'], ['value']);
    sub.setRequestedSnapshot('yes');
    sub.setDataAdapter('OVERFLOW');
    sub.setRequestedMaxFrequency('unfiltered' as unknown as number);
    let lost: [string, number] | null = null;
    const unsubscribed = completion('onUnsubscription after onItemLostUpdates');
    sub.addListener({
      onItemLostUpdates(name: string, pos: number) {
        if (lost) return;
        lost = [name, pos];
        client.unsubscribe(sub);
      },
      onUnsubscription: () => unsubscribed.resolve(),
    });
    client.subscribe(sub);
    // Low, but not so low that the server cannot write its answers.
    client.connectionOptions.setRequestedMaxBandwidth(10);
    client.connect();
    await unsubscribed.promise;
    expect(lost).toEqual(['overflow', 1]);
  },

  async 'JSON Patch'(ctx) {
    const update = await secondUpdate(ctx.client(), 'JSON_COUNT');
    const patch = update.getValueAsJSONPatchIfAvailable(1) as Array<{ op: string; path: string; value: unknown }> | null;
    expect(patch?.[0]).toMatchObject({ op: 'replace', path: '/value' });
    expect(patch?.[0].value).not.toBeNull();
    expect(JSON.parse(update.getValue(1)!).value).not.toBeNull();
  },

  async 'TLCP-diff'(ctx) {
    const update = await secondUpdate(ctx.client(), 'DIFF_COUNT');
    expect(update.getValue(1)).toMatch(/value=\d+/);
  },
};
