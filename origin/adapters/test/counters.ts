/**
 * The TEST counters: item `count` counts up from 0, one step every COUNT_STEP_MS, in field
 * `count`. `COUNT` sends the number; `JSON_COUNT` a JSON object `{"value":n}` (each update differs
 * from the last by one JSON Patch `replace` of `/value`); `DIFF_COUNT` a sentence carrying
 * `value=n` (each update differs from the last in a few characters, what TLCP-diff encodes). Those
 * two declare the delta format of `count` (Lightstreamer's declareFieldDiffOrder).
 */
import type { TestDataAdapter } from './test-data-adapter.ts';
import { createSimulatedAdapter } from './test-data-adapter.ts';

export const COUNT_STEP_MS = 200;
export const COUNT_ITEM = 'count';

function createCounter(name: string, render: (n: number) => string): TestDataAdapter {
  return createSimulatedAdapter({
    name,
    modes: ['MERGE', 'DISTINCT'],
    // One item: what the adapter set costs a shard stays the same however many names clients try.
    hasItem: (item) => item === COUNT_ITEM,
    stepMs: COUNT_STEP_MS,
    simulate() {
      let n = 0;
      return {
        start(listener) {
          listener.update({ count: render(n) }, true);
          listener.endOfSnapshot();
        },
        step: (listener) => listener.update({ count: render(++n) }, false),
      };
    },
  });
}

export const createCountAdapter = () => createCounter('COUNT', String);
export const createJsonCountAdapter = (): TestDataAdapter => ({
  ...createCounter('JSON_COUNT', (n) => JSON.stringify({ value: n, unit: 'steps since the subscription' })),
  diffOrder: () => ({ count: ['JSONPATCH'] }),
});
export const createDiffCountAdapter = (): TestDataAdapter => ({
  ...createCounter('DIFF_COUNT', (n) => `This counter of the TEST adapter set counts the steps since the subscription: value=${n}; the rest of the text stays the same.`),
  diffOrder: () => ({ count: ['DIFF_MATCH_PATCH'] }),
});
