/**
 * An on-demand data adapter: the origin subscribes an item when a first client of the shard wants
 * it and unsubscribes it after the last one left (edgepush leads each item from one shard of the
 * cluster at a time). Each subscribed item is a simulated price: a snapshot first, then a tick every
 * `tick_ms` milliseconds.
 */
import { SubscriptionError, type DataAdapter, type ItemListener } from '../../origin/adapters/adapter.ts';

const ITEM = /^[A-Z]{6}$/;

export function createDataAdapter(params: Record<string, string>): Omit<DataAdapter, 'name'> {
  const tickMs = Number(params.tick_ms ?? 1000);
  if (!Number.isInteger(tickMs) || tickMs < 10) throw new Error('tick_ms must be a whole number of at least 10');
  const running = new Map<string, NodeJS.Timeout>();
  return {
    isSnapshotAvailable: () => true,
    subscribe(item: string, listener: ItemListener) {
      if (!ITEM.test(item)) throw new SubscriptionError(`${item} is no currency pair`);
      let price = 1 + [...item].reduce((sum, c) => sum + c.charCodeAt(0), 0) / 1000;
      let ticks = 0;
      listener.update({ price: price.toFixed(5), ticks: '0' }, true);
      listener.endOfSnapshot();
      running.set(
        item,
        setInterval(() => {
          price *= 1 + (Math.random() - 0.5) / 1000;
          listener.update({ price: price.toFixed(5), ticks: String(++ticks) }, false);
        }, tickMs),
      );
    },
    unsubscribe(item: string) {
      clearInterval(running.get(item));
      running.delete(item);
    },
    stop() {
      for (const timer of running.values()) clearInterval(timer);
      running.clear();
    },
  };
}
