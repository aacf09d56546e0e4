/**
 * The TEST items about snapshots, DISTINCT. `CLEAR_SNAPSHOT`'s `clear_snapshot` clears its state
 * every step and adds one event (field `dummy`); `END_OF_SNAPSHOT`'s `end_of_snapshot` has a
 * snapshot of a few events (field `value`), ended explicitly, then one event per step.
 */
import { createSimulatedAdapter, type TestDataAdapter } from './test-data-adapter.ts';

const STEP_MS = 200;
const SNAPSHOT_EVENTS = 3;

export function createClearSnapshotAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'CLEAR_SNAPSHOT',
    modes: ['DISTINCT'],
    hasItem: (item) => item === 'clear_snapshot',
    stepMs: STEP_MS,
    simulate() {
      let n = 0;
      return {
        start(listener) {
          listener.update({ dummy: String(n) }, true);
          listener.endOfSnapshot();
        },
        step(listener) {
          listener.clearSnapshot();
          listener.update({ dummy: String(++n) }, false);
        },
      };
    },
  });
}

export function createEndOfSnapshotAdapter(): TestDataAdapter {
  return createSimulatedAdapter({
    name: 'END_OF_SNAPSHOT',
    modes: ['DISTINCT'],
    hasItem: (item) => item === 'end_of_snapshot',
    stepMs: STEP_MS,
    simulate() {
      let n = 0;
      return {
        start(listener) {
          for (; n < SNAPSHOT_EVENTS; n++) listener.update({ value: `snapshot event ${n}` }, true);
          listener.endOfSnapshot();
        },
        step: (listener) => listener.update({ value: `event ${n++}` }, false),
      };
    },
  });
}
