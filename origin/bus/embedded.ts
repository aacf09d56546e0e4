/**
 * The single-process bus: nothing to install, so `npm start` works on a fresh machine. Every item
 * ever published keeps its folded state here, because that state *is* the snapshot a later
 * subscriber gets.
 */
import type { Logger } from 'pino';
import { BusUnavailableError, type Bus, type BusStatus, type ExclusiveOptions, type FieldValues, type ItemEvent, type ItemWatch } from './bus.ts';
import { ItemState, freezeClearEvent, freezeEvent, notifyWatchers } from './item-state.ts';

interface HeldItem {
  readonly state: ItemState;
  readonly watchers: Set<(event: ItemEvent) => void>;
}

interface Contender {
  readonly task: (signal: AbortSignal) => void;
  controller: AbortController | null;
}

export class EmbeddedBus implements Bus {
  readonly #items = new Map<string, HeldItem>();
  readonly #contenders = new Map<string, Contender[]>();
  readonly historySize: number;
  readonly #logger: Logger | undefined;
  // A watcher may publish from its callback; queueing keeps every watcher's order intact then.
  readonly #pending: Array<[HeldItem, ItemEvent]> = [];
  #delivering = false;

  constructor(options: { historySize: number; logger?: Logger }) {
    this.historySize = options.historySize;
    this.#logger = options.logger;
  }

  async publish(item: string, fields: FieldValues): Promise<number> {
    return this.#publish(this.#held(item), fields);
  }

  async clear(item: string): Promise<number> {
    const held = this.#held(item);
    return this.#deliverNew(held, freezeClearEvent(item, held.state.seq + 1));
  }

  async publishIf(item: string, expectedSeq: number, fields: FieldValues): Promise<number | null> {
    // A refused publish must not leave an empty entry behind (see watch).
    if ((this.#items.get(item)?.state.seq ?? 0) !== expectedSeq) return null;
    return this.#publish(this.#held(item), fields);
  }

  async watch(item: string, onEvent: (event: ItemEvent) => void, options: { readonly signal?: AbortSignal } = {}): Promise<ItemWatch> {
    if (options.signal?.aborted) throw new BusUnavailableError('watch abandoned');
    const held = this.#held(item);
    const watcher = (event: ItemEvent) => onEvent(event);
    held.watchers.add(watcher);
    const close = () => {
      held.watchers.delete(watcher);
      // Item names come from clients: an item that never had an event is forgotten with its last
      // watcher, or subscribing to ever new names would grow this map without bound.
      if (held.watchers.size === 0 && held.state.seq === 0 && this.#items.get(item) === held) {
        this.#items.delete(item);
      }
    };
    return { snapshot: held.state.snapshot(), close };
  }

  /** How many items this bus holds state or watchers for (read-only; tests check nothing leaks). */
  get heldItemCount(): number {
    return this.#items.size;
  }

  runExclusive(name: string, task: (signal: AbortSignal) => void, options: ExclusiveOptions = {}): () => void {
    const queue = this.#contenders.get(name) ?? [];
    this.#contenders.set(name, queue);
    const contender: Contender = { task, controller: null };
    queue.push(contender);
    if (queue.length === 1) this.#startHead(name);
    else options.onWaiting?.();
    return () => {
      const index = queue.indexOf(contender);
      if (index < 0) return;
      queue.splice(index, 1);
      if (contender.controller) {
        contender.controller.abort();
        if (queue.length > 0) this.#startHead(name);
      }
      if (queue.length === 0) this.#contenders.delete(name);
    };
  }

  status(): BusStatus {
    return { kind: 'embedded', connected: true };
  }

  async close(): Promise<void> {
    for (const queue of this.#contenders.values()) queue[0]?.controller?.abort();
    this.#contenders.clear();
    for (const held of this.#items.values()) held.watchers.clear();
  }

  #held(item: string): HeldItem {
    let held = this.#items.get(item);
    if (!held) {
      held = { state: new ItemState(item, this.historySize), watchers: new Set() };
      this.#items.set(item, held);
    }
    return held;
  }

  #publish(held: HeldItem, fields: FieldValues): number {
    return this.#deliverNew(held, freezeEvent(held.state.item, held.state.seq + 1, fields));
  }

  #deliverNew(held: HeldItem, event: ItemEvent): number {
    held.state.apply(event);
    this.#pending.push([held, event]);
    if (!this.#delivering) this.#deliver();
    return event.seq;
  }

  #deliver(): void {
    this.#delivering = true;
    try {
      for (let next = this.#pending.shift(); next; next = this.#pending.shift()) {
        const [held, event] = next;
        notifyWatchers(held.watchers, event, this.#logger);
      }
    } finally {
      this.#delivering = false;
    }
  }

  #startHead(name: string): void {
    const head = this.#contenders.get(name)?.[0];
    if (!head) return;
    head.controller = new AbortController();
    try {
      head.task(head.controller.signal);
    } catch (err) {
      this.#logger?.error({ err, name }, 'exclusive task failed to start');
    }
  }
}
