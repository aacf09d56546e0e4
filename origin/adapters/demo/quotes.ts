/**
 * `QUOTE_ADAPTER`, as Lightstreamer's StockList demo expects it: items item1…item30 in MERGE with a
 * simulated market. The simulation runs once per cluster (`bus.runExclusive`) and resumes from the
 * shared snapshot, so a failover continues the same prices instead of restarting them.
 *
 * `item_status` is what the full StockList demo greys rows out by: `active` while a feed runs,
 * `inactive` once the running feed stops without handing over (a feed that takes over says `active`
 * again with its first tick). A feed holder that dies leaves the items `active` until another takes
 * over: nothing is left to say otherwise.
 */
import type { Bus } from '../../bus/bus.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const QUOTE_FIELDS = [
  'stock_name',
  'last_price',
  'time',
  'pct_change',
  'bid_quantity',
  'bid',
  'ask',
  'ask_quantity',
  'min',
  'max',
  'ref_price',
  'open_price',
  'item_status',
] as const;

const STOCK_NAMES = [
  'Anvel Systems', 'Brightwater Co', 'Calderon Mining', 'Dunmore Foods', 'Eastgate Energy',
  'Fairlane Motors', 'Glenmore Pharma', 'Harwick Steel', 'Ironbridge Bank', 'Juniper Telecom',
  'Kestrel Aviation', 'Larkspur Retail', 'Meridian Chemicals', 'Northcape Shipping', 'Oakridge Media',
  'Pinecrest Health', 'Quarry Hill Cement', 'Redfern Textiles', 'Silverline Rail', 'Thornbury Insurance',
  'Upland Water', 'Valewood Paper', 'Westbrook Software', 'Xenith Optics', 'Yarrow Agritech',
  'Zephyr Airlines', 'Ashford Logistics', 'Bramble Games', 'Corrib Semiconductors', 'Delmont Hotels',
];

export const QUOTE_ITEMS: readonly string[] = STOCK_NAMES.map((_, i) => `item${i + 1}`);
const ITEM_SET = new Set(QUOTE_ITEMS);

/** Mean interval between two ticks of one item: a few updates per second per item. */
const MEAN_TICK_MS = 300;
const SCHEDULER_MS = 25;

/** How long a stopping feed tries to mark its items inactive before it lets go regardless. */
const INACTIVE_DEADLINE_MS = 1_000;

export function createQuoteAdapter(): DemoDataAdapter {
  let stopFeed: (() => void) | null = null;
  let holder: { readonly bus: Bus; readonly signal: AbortSignal } | null = null;
  return {
    name: 'QUOTE_ADAPTER',
    hasItem: (item) => ITEM_SET.has(item),
    fieldsOf: () => QUOTE_FIELDS,
    allowsMode: (_item, mode) => mode !== 'COMMAND',
    start(bus) {
      stopFeed ??= bus.runExclusive('demo-feed', (signal) => {
        holder = { bus, signal };
        void runQuoteFeed(bus, signal);
      });
    },
    async stop() {
      // Marked while still holding the feed, so a feed taking over afterwards says `active` last.
      // The running feed does not undo it: it only sends what changed from what it last sent.
      if (holder && !holder.signal.aborted) {
        const { bus } = holder;
        const marked = Promise.all(QUOTE_ITEMS.map((item) => bus.publish(item, { item_status: 'inactive' }).catch(() => {})));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([marked, new Promise((resolve) => (timer = setTimeout(resolve, INACTIVE_DEADLINE_MS)))]);
        clearTimeout(timer);
      }
      holder = null;
      stopFeed?.();
      stopFeed = null;
    },
  };
}

interface Stock {
  readonly item: string;
  readonly name: string;
  readonly ref: number;
  readonly open: number;
  last: number;
  min: number;
  max: number;
  nextTickAt: number;
  /** Values last published: a tick sends only what changed, as a real feed would. */
  sent: Record<string, string>;
}

/** Simulates the market until `signal` aborts; only the cluster's feed holder runs it. */
export async function runQuoteFeed(bus: Bus, signal: AbortSignal): Promise<void> {
  const stocks: Stock[] = [];
  for (const [i, item] of QUOTE_ITEMS.entries()) {
    const resumed = await resume(bus, item).catch(() => null);
    if (signal.aborted) return;
    const start = 5 + ((i * 7919) % 400) / 4;
    stocks.push(
      resumed ?? {
        item,
        name: STOCK_NAMES[i],
        ref: start,
        open: start,
        last: start,
        min: start,
        max: start,
        nextTickAt: 0,
        sent: {},
      },
    );
  }
  const timer = setInterval(() => {
    const now = Date.now();
    for (const stock of stocks) {
      if (stock.nextTickAt > now) continue;
      stock.nextTickAt = now - Math.log(1 - Math.random()) * MEAN_TICK_MS;
      tick(stock);
      const fields = quoteFields(stock);
      const changed = Object.fromEntries(Object.entries(fields).filter(([name, value]) => stock.sent[name] !== value));
      // A tick that changed nothing is no update: it would burn a seq and reach DISTINCT clients empty.
      if (Object.keys(changed).length === 0) continue;
      stock.sent = fields;
      bus.publish(stock.item, changed).catch(() => {
        // Not published: send everything next time rather than assume what the others hold.
        stock.sent = {};
      });
    }
  }, SCHEDULER_MS);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}

async function resume(bus: Bus, item: string): Promise<Stock | null> {
  const watch = await bus.watch(item, () => {});
  watch.close();
  const m = watch.snapshot.merged;
  const number = (name: string) => Number(m?.[name] ?? NaN);
  const [ref, open, last, min, max] = ['ref_price', 'open_price', 'last_price', 'min', 'max'].map(number);
  if (![ref, open, last, min, max].every((n) => Number.isFinite(n) && n > 0)) return null;
  return { item, name: m?.stock_name ?? item, ref, open, last, min, max, nextTickAt: 0, sent: {} };
}

function tick(stock: Stock): void {
  // Geometric random walk with a gentle pull back towards the reference price, so a long-running
  // demo neither drifts to zero nor explodes.
  const shock = gaussian() * 0.004;
  const pull = Math.log(stock.ref / stock.last) * 0.01;
  stock.last = Math.max(0.01, stock.last * Math.exp(shock + pull));
  stock.min = Math.min(stock.min, stock.last);
  stock.max = Math.max(stock.max, stock.last);
}

function quoteFields(stock: Stock): Record<string, string> {
  const spread = Math.max(0.01, stock.last * 0.0015 * (0.5 + Math.random()));
  const now = new Date();
  return {
    stock_name: stock.name,
    last_price: stock.last.toFixed(2),
    time: now.toISOString().slice(11, 19),
    pct_change: (((stock.last - stock.ref) / stock.ref) * 100).toFixed(2),
    bid_quantity: String(lot()),
    bid: Math.max(0.01, stock.last - spread / 2).toFixed(2),
    ask: (stock.last + spread / 2).toFixed(2),
    ask_quantity: String(lot()),
    min: stock.min.toFixed(2),
    max: stock.max.toFixed(2),
    ref_price: stock.ref.toFixed(2),
    open_price: stock.open.toFixed(2),
    item_status: 'active',
  };
}

function lot(): number {
  return 500 * (1 + Math.floor(Math.random() * 100));
}

function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}
