/**
 * A TEST data adapter: on demand, one simulation per subscribed item, with what the TEST metadata
 * adapter needs to resolve groups and modes (which items it serves and in which modes).
 */
import { SubscriptionError, type DataAdapter, type ItemListener, type SubscriptionMode } from '../adapter.ts';

export interface TestDataAdapter extends DataAdapter {
  readonly modes: readonly SubscriptionMode[];
  hasItem(item: string): boolean;
  stop(): void;
}

/** What one subscribed item does: its snapshot at once, then a step every `stepMs`. */
export interface ItemSimulation {
  /** Sends the snapshot (updates flagged as snapshot, then the end of it). */
  start(listener: ItemListener): void;
  step(listener: ItemListener): void;
}

export interface SimulatedAdapterSpec {
  readonly name: string;
  readonly modes: readonly SubscriptionMode[];
  readonly hasItem: (item: string) => boolean;
  readonly stepMs: number;
  readonly simulate: (item: string) => ItemSimulation;
}

export function createSimulatedAdapter(spec: SimulatedAdapterSpec): TestDataAdapter {
  const running = new Map<string, NodeJS.Timeout>();
  const stopItem = (item: string) => {
    clearInterval(running.get(item));
    running.delete(item);
  };
  return {
    name: spec.name,
    modes: spec.modes,
    hasItem: spec.hasItem,
    isSnapshotAvailable: () => true,
    subscribe(item, listener) {
      if (!spec.hasItem(item)) throw new SubscriptionError(`${spec.name} has no item ${item}`);
      stopItem(item);
      const simulation = spec.simulate(item);
      simulation.start(listener);
      running.set(
        item,
        setInterval(() => simulation.step(listener), spec.stepMs),
      );
    },
    unsubscribe: stopItem,
    stop() {
      for (const item of [...running.keys()]) stopItem(item);
    },
  };
}
