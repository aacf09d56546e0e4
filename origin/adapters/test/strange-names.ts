/**
 * `STRANGE_NAMES`: the client system tests' non-ASCII item name (`strange:àìùòlè`), with values for
 * their field names of symbols, percent signs and line breaks, so every layer's handling of such
 * names and values is exercised. A data adapter does not see the schema a client names: each step
 * sends those two fields, whatever was asked.
 */
import { createSimulatedAdapter, type TestDataAdapter } from './test-data-adapter.ts';

export const STRANGE_ITEM = 'strange:àìùòlè';
export const STRANGE_FIELDS = ['value🌐-', 'value&+=\r\n%'] as const;

export function createStrangeNamesAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'STRANGE_NAMES',
    modes: ['MERGE', 'DISTINCT'],
    hasItem: (item) => item === STRANGE_ITEM,
    stepMs: 1000,
    simulate() {
      let n = 0;
      const values = () => Object.fromEntries(STRANGE_FIELDS.map((f) => [f, `àìùòlè 🌐 +&=%,|\r\n ${n}`]));
      return {
        start(listener) {
          listener.update(values(), true);
          listener.endOfSnapshot();
        },
        step(listener) {
          n++;
          listener.update(values(), false);
        },
      };
    },
  });
}
