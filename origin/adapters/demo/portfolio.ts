/**
 * `PORTFOLIO_ADAPTER`, as Lightstreamer's Portfolio demos expect it: items portfolio1…portfolio10 in
 * COMMAND mode (fields key, command, qty; key = a QUOTE_ADAPTER item), changed by the client
 * messages `BUY|<portfolio>|<item>|<qty>` and `SELL|…`, answered `SUBMITTED` as the demo's adapter
 * does (the full Portfolio demo shows the answer in its order log).
 *
 * Any shard may receive an order, so an order is a read-modify-write of the shared row set: each
 * origin keeps a live copy of both portfolios and publishes with `publishIf` on the seq it read,
 * retrying when another shard's order landed first.
 */
import type { Bus } from '../../bus/bus.ts';
import { AdapterError } from '../adapter.ts';
import type { MessageRoute } from './catalogue-metadata.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { followItem, type LiveItem } from './live-item.ts';
import { QUOTE_ITEMS } from './quotes.ts';

export const PORTFOLIO_ITEMS: readonly string[] = Array.from({ length: 10 }, (_, i) => `portfolio${i + 1}`);
export const PORTFOLIO_FIELDS = ['key', 'command', 'qty'] as const;
/** The MSGDONE response of an order carried out. */
export const ORDER_SUBMITTED = 'SUBMITTED';
const STOCKS = new Set(QUOTE_ITEMS);
const MAX_QTY = 1_000_000_000;
const MAX_ATTEMPTS = 50;

/**
 * What a fresh cluster starts with, so the demos do not open on an empty grid: a few stocks in every
 * portfolio, as the demo's simulator seeds them (fixed here, so every shard agrees).
 */
const INITIAL_ROWS: Record<string, Array<[string, number]>> = {
  portfolio1: [
    ['item2', 400],
    ['item7', 1200],
    ['item13', 250],
  ],
  portfolio2: [
    ['item5', 800],
    ['item21', 150],
  ],
  ...Object.fromEntries(
    PORTFOLIO_ITEMS.slice(2).map((portfolio, p) => {
      const n = p + 3;
      // A step coprime with 30 visits distinct stocks.
      const rows = Array.from({ length: 6 + (n % 3) }, (_, k): [string, number] => [QUOTE_ITEMS[(n * 7 + k * 11) % 30], 100 * (1 + ((n * (k + 1) * 13) % 25))]);
      return [portfolio, rows];
    }),
  ),
};

/** Message refusals (MSGFAIL with a code ≤ 0: the client's onDeny). */
export const ORDER_MALFORMED = -1;
export const ORDER_UNKNOWN_PORTFOLIO = -2;
export const ORDER_UNKNOWN_STOCK = -3;
export const ORDER_NOTHING_TO_SELL = -4;
export const ORDER_CONTENDED = -5;

export interface PortfolioDesk {
  readonly adapter: DemoDataAdapter;
  /** Handles `BUY|…` / `SELL|…`; resolves with `SUBMITTED`. */
  order(message: string): Promise<string>;
  /** The `BUY|` and `SELL|` messages, for a set's metadata adapter. */
  readonly messages: readonly MessageRoute[];
}

export function createPortfolioDesk(): PortfolioDesk {
  let bus: Bus | null = null;
  let ready: Promise<Map<string, LiveItem>> | null = null;

  const adapter: DemoDataAdapter = {
    name: 'PORTFOLIO_ADAPTER',
    hasItem: (item) => PORTFOLIO_ITEMS.includes(item),
    fieldsOf: () => PORTFOLIO_FIELDS,
    allowsMode: (_item, mode) => mode === 'COMMAND',
    start(b) {
      // Several sets share one desk: the first start follows the portfolios, later ones find it done.
      if (ready) return;
      bus = b;
      ready = follow(b);
      // Orders wait on `ready`; a failure to follow is reported there, not as an unhandled rejection.
      ready.then((live) => seed(b, live)).catch(() => {});
    },
    stop() {
      void ready?.then((live) => live.forEach((p) => p.close()), () => {});
      bus = null;
      ready = null;
    },
  };

  async function order(message: string): Promise<string> {
    const parts = message.split('|');
    const [verb, portfolio, stock, qtyText] = parts;
    const qty = Number(qtyText);
    if (parts.length !== 4 || (verb !== 'BUY' && verb !== 'SELL')) {
      throw new AdapterError(ORDER_MALFORMED, 'expected BUY|<portfolio>|<item>|<qty> or SELL|…');
    }
    if (!Number.isSafeInteger(qty) || qty <= 0 || qty > MAX_QTY || !/^\d+$/.test(qtyText)) {
      throw new AdapterError(ORDER_MALFORMED, 'quantity must be a positive integer');
    }
    if (!PORTFOLIO_ITEMS.includes(portfolio)) {
      throw new AdapterError(ORDER_UNKNOWN_PORTFOLIO, `no portfolio ${portfolio}`);
    }
    if (!STOCKS.has(stock)) throw new AdapterError(ORDER_UNKNOWN_STOCK, `no stock ${stock}`);
    if (!bus || !ready) throw new AdapterError(ORDER_CONTENDED, 'portfolio desk not started');
    const target = bus;
    const live = (await ready).get(portfolio)!;
    return inTurn(portfolio, () => place(target, live, verb, portfolio, stock, qty));
  }

  /**
   * One order per portfolio at a time on this shard: orders sent to the same shard then never race
   * each other, so an order's compare-and-set can only lose to orders committed by other shards.
   */
  const turns = new Map<string, Promise<unknown>>();
  function inTurn<T>(portfolio: string, task: () => Promise<T>): Promise<T> {
    const run = (turns.get(portfolio) ?? Promise.resolve()).then(task, task);
    const settled = run.catch(() => undefined);
    turns.set(portfolio, settled);
    void settled.then(() => {
      if (turns.get(portfolio) === settled) turns.delete(portfolio);
    });
    return run;
  }

  async function place(bus: Bus, live: LiveItem, verb: 'BUY' | 'SELL', portfolio: string, stock: string, qty: number): Promise<string> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const seq = live.state.seq;
      const held = Number(live.state.rows.get(stock)?.qty ?? 0);
      let fields;
      if (verb === 'BUY') {
        const next = Math.min(MAX_QTY, held + qty);
        fields = { key: stock, command: held > 0 ? 'UPDATE' : 'ADD', qty: String(next) };
      } else if (held === 0) {
        throw new AdapterError(ORDER_NOTHING_TO_SELL, `${portfolio} holds no ${stock}`);
      } else if (qty >= held) {
        fields = { key: stock, command: 'DELETE', qty: null };
      } else {
        fields = { key: stock, command: 'UPDATE', qty: String(held - qty) };
      }
      if ((await bus.publishIf(portfolio, seq, fields)) !== null) return ORDER_SUBMITTED;
      await live.changedAfter(seq);
    }
    throw new AdapterError(ORDER_CONTENDED, 'too many concurrent orders, try again');
  }

  const messages = ['BUY|', 'SELL|'].map((prefix) => ({ prefix, handle: ({ message }: { message: string }) => order(message) }));
  return { adapter, order, messages };
}

async function follow(bus: Bus): Promise<Map<string, LiveItem>> {
  const live = new Map<string, LiveItem>();
  for (const item of PORTFOLIO_ITEMS) live.set(item, await followItem(bus, item));
  return live;
}

/** Seeds an item only while it never had an event: `publishIf` on seq 0 makes one shard win. */
async function seed(bus: Bus, live: Map<string, LiveItem>): Promise<void> {
  for (const [item, rows] of Object.entries(INITIAL_ROWS)) {
    if (live.get(item)!.state.seq !== 0) continue;
    for (const [seq, [key, qty]] of rows.entries()) {
      const done = await bus.publishIf(item, seq, { key, command: 'ADD', qty: String(qty) });
      if (done === null) break;
    }
  }
}
