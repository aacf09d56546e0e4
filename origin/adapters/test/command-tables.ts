/**
 * The TEST COMMAND items. `MULT_TABLE`'s `mult_table` is a multiplication table, one row (key) per
 * factor, `value1` the factor and `value2` its product by a multiplier that grows each step (the
 * rows are UPDATEd in turn). `TWO_LEVEL_COMMAND`'s items (`two_level_command…`) hold one row whose
 * key, `count`, names a `COUNT` item: the client subscribes it as the row's second level.
 */
import { createSimulatedAdapter, type TestDataAdapter } from './test-data-adapter.ts';

const MULT_TABLE_ROWS = 5;
const MULT_TABLE_STEP_MS = 500;
export const TWO_LEVEL_PREFIX = 'two_level_command';
export const SECOND_LEVEL_KEY = 'count';

export function createMultTableAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'MULT_TABLE',
    modes: ['COMMAND'],
    hasItem: (item) => item === 'mult_table',
    stepMs: MULT_TABLE_STEP_MS,
    simulate() {
      let multiplier = 1;
      let row = 0;
      const values = (factor: number) => ({ key: String(factor), value1: String(factor), value2: String(factor * multiplier) });
      return {
        start(listener) {
          for (let factor = 1; factor <= MULT_TABLE_ROWS; factor++) listener.update({ ...values(factor), command: 'ADD' }, true);
          listener.endOfSnapshot();
        },
        step(listener) {
          if (row === 0) multiplier++;
          listener.update({ ...values(row + 1), command: 'UPDATE' }, false);
          row = (row + 1) % MULT_TABLE_ROWS;
        },
      };
    },
  });
}

export function createTwoLevelCommandAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'TWO_LEVEL_COMMAND',
    modes: ['COMMAND'],
    hasItem: (item) => item.startsWith(TWO_LEVEL_PREFIX),
    // The row never changes: its second level carries the data.
    stepMs: 60_000,
    simulate: () => ({
      start(listener) {
        listener.update({ key: SECOND_LEVEL_KEY, command: 'ADD' }, true);
        listener.endOfSnapshot();
      },
      step() {},
    }),
  });
}
