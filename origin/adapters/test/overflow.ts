/**
 * `OVERFLOW`'s `overflow`: far more data than a session limited to a few kbit/s can take — a burst of
 * events of field `value` every step — so an unfiltered subscription loses updates, which the client
 * hears of (onItemLostUpdates).
 */
import { createSimulatedAdapter, type TestDataAdapter } from './test-data-adapter.ts';

const STEP_MS = 50;
const EVENTS_PER_STEP = 10;
const VALUE_PADDING = 'x'.repeat(200);
/** Updates held per subscription, small so a slow session overflows soon (Lightstreamer's max_buffer_size). */
export const OVERFLOW_BUFFER_SIZE = 10;

export function createOverflowAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'OVERFLOW',
    modes: ['MERGE'],
    hasItem: (item) => item === 'overflow',
    stepMs: STEP_MS,
    simulate() {
      let n = 0;
      return {
        start(listener) {
          listener.update({ value: `${n} ${VALUE_PADDING}` }, true);
          listener.endOfSnapshot();
        },
        step(listener) {
          for (let i = 0; i < EVENTS_PER_STEP; i++) listener.update({ value: `${++n} ${VALUE_PADDING}` }, false);
        },
      };
    },
  });
}
