/**
 * A shard's live copy of one bus item, for feeds that any shard may change by read-modify-write
 * (portfolio orders, the messenger's buddy list): read the state, publish with `publishIf` on its
 * seq, and on a lost race wait for the copy to catch up before trying again.
 */
import type { Bus, ItemEvent } from '../../bus/bus.ts';
import { ItemState } from '../../bus/item-state.ts';

export interface LiveItem {
  readonly state: ItemState;
  /** Resolves once the local copy moved past `seq` (or after a short wait, in case it never does). */
  changedAfter(seq: number): Promise<void>;
  close(): void;
}

export async function followItem(bus: Bus, item: string): Promise<LiveItem> {
  let state: ItemState | null = null;
  // Events may arrive before `watch` resolves; they are folded once the snapshot is known.
  const early: ItemEvent[] = [];
  const waiters = new Set<() => void>();
  const watch = await bus.watch(item, (event: ItemEvent) => {
    if (!state) return void early.push(event);
    state.apply(event);
    for (const wake of waiters) wake();
    waiters.clear();
  });
  const held = ItemState.fromSnapshot(watch.snapshot, 0);
  for (const event of early) if (event.seq > held.seq) held.apply(event);
  state = held;
  return {
    state: held,
    changedAfter: (seq) =>
      held.seq > seq
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 50 + Math.random() * 50);
            waiters.add(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
    close: () => watch.close(),
  };
}
