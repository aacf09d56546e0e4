/**
 * `PORTFOLIO_JSON_ADAPTER`, as Lightstreamer's JSON Patch Portfolio demo expects it: items
 * portfolio1…portfolio10 in MERGE with one field, `json`, the whole portfolio as a JSON document:
 * `{"portfolio1":[{"symbol":"item13","quantity":250},…]}`, symbols in the demo's (string) order.
 *
 * The portfolios are PORTFOLIO_ADAPTER's (the same desk takes the orders): this adapter follows a
 * portfolio's COMMAND item in the bus and republishes the document on every change. On demand, so
 * one shard at a time builds the documents, and only while someone is subscribed.
 *
 * Every update carries the full value; the field is declared for JSON Patch delivery (as
 * Lightstreamer's adapter does with `declareFieldDiffOrder`), so a client that holds the previous
 * document gets the patch where it is shorter.
 */
import type { Bus, ItemEvent, ItemWatch } from '../../bus/bus.ts';
import { ItemState } from '../../bus/item-state.ts';
import { SubscriptionError, type DiffAlgorithm, type ItemListener } from '../adapter.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { PORTFOLIO_ITEMS, type PortfolioDesk } from './portfolio.ts';

export const JSON_FIELD = 'json';
/** The field and the diff algorithms a client may be sent its changes in, preferred first. */
const JSON_FIELD_DIFF_ORDER: Readonly<Record<string, readonly DiffAlgorithm[]>> = { [JSON_FIELD]: ['JSONPATCH'] };

export function portfolioJson(portfolio: string, rows: ReadonlyMap<string, Readonly<Record<string, string | null>>>): string {
  const holdings = [...rows.entries()]
    .map(([symbol, row]) => ({ symbol, quantity: Number(row.qty) }))
    .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  return JSON.stringify({ [portfolio]: holdings });
}

export function createPortfolioJsonAdapter(desk: PortfolioDesk): DemoDataAdapter {
  let bus: Bus | null = null;
  /** Per subscribed item; `watch` is null while it opens (an unsubscribe meanwhile removes the entry). */
  const following = new Map<string, { watch: ItemWatch | null }>();

  return {
    name: 'PORTFOLIO_JSON_ADAPTER',
    hasItem: (item) => PORTFOLIO_ITEMS.includes(item),
    fieldsOf: () => [JSON_FIELD],
    allowsMode: (_item, mode) => mode === 'MERGE',
    diffOrder: () => JSON_FIELD_DIFF_ORDER,
    async subscribe(item, listener: ItemListener) {
      if (!bus) throw new SubscriptionError('portfolio desk not started');
      const entry: { watch: ItemWatch | null } = { watch: null };
      following.set(item, entry);
      let state: ItemState | null = null;
      // Events may arrive before `watch` resolves; they are folded once the snapshot is known.
      const early: ItemEvent[] = [];
      const onEvent = (event: ItemEvent) => {
        if (!state) return void early.push(event);
        if (event.seq <= state.seq) return;
        state.apply(event);
        listener.update({ [JSON_FIELD]: portfolioJson(item, state.rows) }, false);
      };
      const watch = await bus.watch(item, onEvent);
      if (following.get(item) !== entry) return watch.close();
      entry.watch = watch;
      const held = ItemState.fromSnapshot(watch.snapshot, 0);
      for (const event of early) if (event.seq > held.seq) held.apply(event);
      state = held;
      listener.update({ [JSON_FIELD]: portfolioJson(item, held.rows) }, true);
      listener.endOfSnapshot();
    },
    unsubscribe(item) {
      following.get(item)?.watch?.close();
      following.delete(item);
    },
    start(b) {
      bus = b;
      // The orders this set takes go to the desk: it runs even in a set that has no PORTFOLIO_ADAPTER.
      desk.adapter.start(b);
    },
    stop() {
      for (const entry of following.values()) entry.watch?.close();
      following.clear();
      bus = null;
    },
  };
}
