/**
 * The data adapter of Lightstreamer's Hello World example: item `greetings`, fields `message`
 * (`Hello` and `World` in turn) and `timestamp`, one update every one to three seconds while anyone
 * is subscribed. On demand, so it runs only while subscribed, on one shard at a time.
 */
import type { ItemListener } from '../adapter.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const GREETINGS_ITEM = 'greetings';
export const GREETINGS_FIELDS = ['message', 'timestamp'] as const;
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 3_000;

export function createGreetingsAdapter(name = 'DEFAULT'): DemoDataAdapter {
  let timer: NodeJS.Timeout | null = null;
  const halt = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return {
    name,
    hasItem: (item) => item === GREETINGS_ITEM,
    fieldsOf: () => GREETINGS_FIELDS,
    allowsMode: (_item, mode) => mode !== 'COMMAND',
    isSnapshotAvailable: () => false,
    subscribe(_item, listener: ItemListener) {
      halt();
      let count = 0;
      const next = () => {
        timer = setTimeout(() => {
          listener.update({ message: count++ % 2 === 0 ? 'Hello' : 'World', timestamp: new Date().toString() }, false);
          next();
        }, MIN_INTERVAL_MS + Math.random() * (MAX_INTERVAL_MS - MIN_INTERVAL_MS));
      };
      next();
    },
    unsubscribe: halt,
    start() {},
    stop: halt,
  };
}
