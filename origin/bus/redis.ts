/**
 * The shared bus: shards on many machines share one feed through Redis (layout and external
 * publishing: README, "One feed across shards"). Publication is one Lua script per update (seq, folded state,
 * bounded history and PUBLISH in one atomic step), so every shard sees one order per item.
 *
 * Each shard keeps a local copy of the items its sessions watch, fed by the item's channel and
 * checked by seq: a duplicate is dropped, a gap is repaired from the shared state (replayed from the
 * shared history when it still covers the gap, otherwise turned into synthesized events that bring
 * the local copy to the shared state). Watchers therefore always see consecutive seqs and a state
 * that converges to Redis's, and keep being served from the local copy while Redis is away.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { BusUnavailableError, type Bus, type BusStatus, type ExclusiveOptions, type FieldValues, type ItemEvent, type ItemSnapshot, type ItemWatch } from './bus.ts';
import { formatFeedPosition } from '../../protocol/feed-position.ts';
import {
  COMMAND_FIELD,
  ItemState,
  KEY_FIELD,
  fieldValues,
  freezeClearEvent,
  freezeEvent,
  notifyWatchers,
} from './item-state.ts';

const script = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');

const LOCK_RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const LOCK_RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end`;

type Arg = string | number;
type ScriptedRedis = Redis & {
  edgepushPublish(...args: Arg[]): Promise<number>;
  edgepushSnapshot(...keys: string[]): Promise<[string, string, string[], string[], string[], string[]]>;
  edgepushRestore(...args: Arg[]): Promise<number>;
  edgepushRenew(key: string, token: string, ttlMs: number): Promise<number>;
  edgepushRelease(key: string, token: string): Promise<number>;
};

export interface RedisBusOptions {
  readonly url: string;
  readonly historySize: number;
  readonly logger?: Logger;
  /** Prefix of every key and channel (default `edgepush:`), so clusters can share one Redis. */
  readonly prefix?: string;
  /** runExclusive lock lifetime: a dead holder is replaced after at most this long (default 5 s). */
  readonly lockTtlMs?: number;
}

/** An event as it travels on an item's channel and sits in its history. */
interface WireEvent {
  readonly seq: number;
  readonly epoch: string;
  readonly fields: FieldValues;
  /** Present (true) on clear-snapshot events only. */
  readonly clear?: true;
}

interface RemoteState {
  readonly seq: number;
  readonly epoch: string;
  readonly merged: FieldValues | null;
  readonly history: readonly WireEvent[];
  readonly rows: ReadonlyMap<string, FieldValues>;
}

interface Watched {
  readonly item: string;
  readonly watchers: Set<(event: ItemEvent) => void>;
  /** null until the first snapshot arrived. */
  state: ItemState | null;
  /** Identity of the item's life in Redis: a new epoch means Redis lost the item and it restarted. */
  epoch: string;
  /** Last Redis seq folded in; local seq = Redis seq + offset (offset moves only on a resync). */
  redisSeq: number;
  offset: number;
  /** Non-null while (re)synchronising: live events wait here in arrival order. */
  buffer: WireEvent[] | null;
  syncing: Promise<void> | null;
  closed: boolean;
  /** Aborted once the item is forgotten: a load still waiting for Redis gives up. */
  readonly forgotten: AbortController;
}

const RESYNC_WAIT_MS = 2_000;
const backoff = (attempt: number) => Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RedisBus implements Bus {
  /** Snapshots and restores: waits through outages (offline queue), so a watch resumes by itself. */
  readonly #patient: ScriptedRedis;
  /** Publishes and locks: fails fast while Redis is away, so feeds and lock holders know at once. */
  readonly #fast: ScriptedRedis;
  readonly #subscriber: Redis;
  readonly #watched = new Map<string, Watched>();
  readonly #byChannel = new Map<string, Watched>();
  readonly #exclusives = new Set<() => void>();
  /** Item loads waiting for the subscriber connection, woken by its next `ready`. */
  readonly #awaitingConnection = new Set<() => void>();
  readonly historySize: number;
  readonly #prefix: string;
  readonly #lockTtlMs: number;
  readonly #logger: Logger | undefined;
  readonly #epochBase = randomUUID();
  #epochCounter = 0;
  #lastError = '';
  #everReady = false;
  #fastEverReady = false;
  readonly #firstReady: Promise<void>;
  /** Set while items are being re-synchronised after a reconnection: publishes wait for it. */
  #resyncing: Promise<void> | null = null;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.historySize = options.historySize;
    this.#prefix = options.prefix ?? 'edgepush:';
    this.#lockTtlMs = options.lockTtlMs ?? 5_000;
    this.#logger = options.logger;
    const common: RedisOptions = {
      retryStrategy: (attempt) => backoff(attempt),
      connectionName: 'edgepush',
    };
    this.#patient = this.#scripted(new Redis(options.url, { ...common, maxRetriesPerRequest: null }));
    this.#fast = this.#scripted(
      new Redis(options.url, {
        ...common,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      }),
    );
    this.#subscriber = new Redis(options.url, { ...common, maxRetriesPerRequest: null });
    this.#subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));

    for (const connection of [this.#patient, this.#fast, this.#subscriber]) {
      connection.on('error', (err: Error) => {
        if (this.#lastError !== err.message) this.#logger?.warn({ err: err.message }, 'redis bus connection error');
        this.#lastError = err.message;
      });
    }
    this.#firstReady = new Promise((resolve) =>
      this.#fast.once('ready', () => {
        this.#fastEverReady = true;
        resolve();
      }),
    );
    this.#subscriber.on('ready', () => {
      for (const wake of this.#awaitingConnection) wake();
      this.#awaitingConnection.clear();
      if (this.#everReady) this.#resyncAll();
      this.#everReady = true;
    });
  }

  async publish(item: string, fields: FieldValues): Promise<number> {
    const seq = await this.#runPublish(item, fields, '');
    return seq + (this.#watched.get(item)?.offset ?? 0);
  }

  async clear(item: string): Promise<number> {
    const seq = await this.#runPublish(item, {}, '', 'clear');
    return seq + (this.#watched.get(item)?.offset ?? 0);
  }

  async publishIf(item: string, expectedSeq: number, fields: FieldValues): Promise<number | null> {
    // Seqs this process hands out are local ones; Redis's differ by the offset of a past resync.
    const offset = this.#watched.get(item)?.offset ?? 0;
    const seq = await this.#runPublish(item, fields, String(expectedSeq - offset));
    return seq < 0 ? null : seq + offset;
  }

  async watch(item: string, onEvent: (event: ItemEvent) => void, options: { readonly signal?: AbortSignal } = {}): Promise<ItemWatch> {
    const { signal } = options;
    if (this.#closed) throw new BusUnavailableError('bus closed');
    if (signal?.aborted) throw new BusUnavailableError('watch abandoned');
    let watched = this.#watched.get(item);
    if (!watched) {
      watched = {
        item,
        watchers: new Set(),
        state: null,
        epoch: '',
        redisSeq: 0,
        offset: 0,
        buffer: [],
        syncing: null,
        closed: false,
        forgotten: new AbortController(),
      };
      this.#watched.set(item, watched);
      this.#byChannel.set(this.#channel(item), watched);
      watched.syncing = this.#subscribeAndLoad(watched);
    }
    // Events folded before this watcher's snapshot is taken are in that snapshot: skip them.
    let snapshotTaken = false;
    const watcher = (event: ItemEvent) => {
      if (snapshotTaken) onEvent(event);
    };
    // Counted before the first snapshot arrives, so a concurrent close does not drop the item.
    watched.watchers.add(watcher);
    const held = watched;
    const close = () => {
      if (!held.watchers.delete(watcher) || held.watchers.size > 0) return;
      this.#forget(held);
    };
    while (!held.state) {
      if (held.closed) throw new BusUnavailableError('bus closed');
      try {
        const loading = held.syncing ?? Promise.resolve();
        await (signal ? abandonable(loading, signal) : loading);
      } catch (err) {
        close();
        throw err;
      }
    }
    snapshotTaken = true;
    return { snapshot: held.state.snapshot(), close };
  }

  runExclusive(name: string, task: (signal: AbortSignal) => void, options: ExclusiveOptions = {}): () => void {
    const key = `${this.#prefix}lock:${name}`;
    const token = randomUUID();
    const ttl = this.#lockTtlMs;
    let controller: AbortController | null = null;
    let timer: NodeJS.Timeout | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    let stopped = false;

    const lose = (why: string) => {
      clearTimeout(watchdog);
      if (!controller) return;
      this.#logger?.warn({ name, why }, 'exclusive task lost its lock; stopping it');
      controller.abort();
      controller = null;
    };
    // The task runs only while the lock is surely ours: unless a renewal confirms it, the task
    // stops a third of a TTL before the lock can expire and a replacement can start.
    const confirmed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => lose('cannot renew the lock'), (ttl * 2) / 3).unref();
    };
    const step = async () => {
      try {
        if (controller) {
          const renewed = (await this.#fast.edgepushRenew(key, token, ttl)) === 1;
          // stop() may have run while the renewal was in flight; it already cleared the watchdog.
          if (stopped) return;
          if (renewed) confirmed();
          else lose('lock expired or taken over');
        } else if ((await this.#fast.set(key, token, 'PX', ttl, 'NX')) === 'OK') {
          if (stopped) {
            await this.#fast.edgepushRelease(key, token);
            return;
          }
          confirmed();
          controller = new AbortController();
          this.#logger?.debug({ name }, 'exclusive task acquired its lock');
          try {
            task(controller.signal);
          } catch (err) {
            this.#logger?.error({ err, name }, 'exclusive task failed to start');
          }
        } else {
          options.onWaiting?.();
        }
      } catch {
        // Redis unreachable: the watchdog decides whether the task may keep running.
      }
      // Unref'd: the Redis connections keep a running process alive, and a closed bus must not.
      if (!stopped) timer = setTimeout(step, ttl / 3).unref();
    };
    void step();

    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      clearTimeout(watchdog);
      this.#exclusives.delete(stop);
      if (controller) {
        controller.abort();
        controller = null;
        this.#fast.edgepushRelease(key, token).catch(() => {});
      }
    };
    this.#exclusives.add(stop);
    return stop;
  }

  status(): BusStatus {
    const states = [this.#patient, this.#fast, this.#subscriber].map((c) => c.status);
    const connected = states.every((s) => s === 'ready');
    if (connected) return { kind: 'redis', connected };
    return { kind: 'redis', connected, detail: `redis ${states.find((s) => s !== 'ready')}: ${this.#lastError || 'connecting'}` };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of [...this.#exclusives]) stop();
    for (const watched of this.#watched.values()) {
      watched.closed = true;
      watched.forgotten.abort();
    }
    this.#watched.clear();
    this.#byChannel.clear();
    // Give lock releases a moment; quit() waits for pending replies when connected.
    await Promise.all(
      [this.#fast, this.#patient, this.#subscriber].map((c) =>
        c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect(),
      ),
    );
  }

  #scripted(connection: Redis): ScriptedRedis {
    connection.defineCommand('edgepushPublish', { numberOfKeys: 5, lua: script('redis-publish.lua') });
    connection.defineCommand('edgepushSnapshot', { numberOfKeys: 5, lua: script('redis-snapshot.lua') });
    connection.defineCommand('edgepushRestore', { numberOfKeys: 5, lua: script('redis-restore.lua') });
    connection.defineCommand('edgepushRenew', { numberOfKeys: 1, lua: LOCK_RENEW_LUA });
    connection.defineCommand('edgepushRelease', { numberOfKeys: 1, lua: LOCK_RELEASE_LUA });
    return connection as ScriptedRedis;
  }

  #keys(item: string): string[] {
    const base = `${this.#prefix}{${item}}:`;
    return [`${base}meta`, `${base}merged`, `${base}history`, `${base}rows`, `${base}order`];
  }

  #channel(item: string): string {
    return `${this.#prefix}{${item}}:events`;
  }

  async #runPublish(item: string, fields: FieldValues, expected: string, mode: 'clear' | '' = ''): Promise<number> {
    if (this.#closed) throw new BusUnavailableError('bus closed');
    // A process publishing right after start waits briefly for the first connection.
    if (!this.#fastEverReady) await Promise.race([this.#firstReady, sleep(2_000)]);
    if (this.#fast.status !== 'ready') {
      throw new BusUnavailableError(`redis unreachable: ${this.#lastError || this.#fast.status}`);
    }
    // After a reconnection, restored items must be back in Redis before new updates land on them;
    // bounded, because a resync stuck on a flapping link must not hang publishers (the shards
    // reconcile whatever lands first).
    if (this.#resyncing) await Promise.race([this.#resyncing, sleep(RESYNC_WAIT_MS)]);
    const epoch = `${this.#epochBase}.${++this.#epochCounter}`;
    try {
      return await this.#fast.edgepushPublish(
        ...this.#keys(item),
        item,
        JSON.stringify(fields),
        this.historySize,
        epoch,
        expected,
        this.#channel(item),
        mode,
      );
    } catch (err) {
      // Redis answered with an error (a bad update): the caller's fault. Anything else is the link.
      if (err instanceof ReplyError) throw err;
      throw new BusUnavailableError(`redis unreachable: ${(err as Error).message}`);
    }
  }

  async #subscribeAndLoad(watched: Watched): Promise<void> {
    // While Redis is away the load waits for the connection instead of queueing a SUBSCRIBE: loads
    // of items nobody waits for any more (their watches abandoned) must not pile up commands.
    if (this.#subscriber.status !== 'ready') await this.#subscriberReady(watched.forgotten.signal);
    // Subscribe first, then read the state: an event published in between is in both and is
    // dropped by seq; one published before is in the state; one after arrives on the channel.
    await this.#subscriber.subscribe(this.#channel(watched.item));
    await this.#sync(watched);
  }

  /** Resolves at the subscriber's next `ready`; rejects (forgetting the waiter) once `signal` aborts. */
  #subscriberReady(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        this.#awaitingConnection.delete(wake);
        reject(new BusUnavailableError('item forgotten while redis was unreachable'));
      };
      if (signal.aborted) return abort();
      this.#awaitingConnection.add(wake);
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  #forget(watched: Watched): void {
    watched.closed = true;
    watched.forgotten.abort();
    if (this.#watched.get(watched.item) !== watched) return;
    this.#watched.delete(watched.item);
    const channel = this.#channel(watched.item);
    this.#byChannel.delete(channel);
    if (!this.#closed) this.#subscriber.unsubscribe(channel).catch(() => {});
  }

  #onMessage(channel: string, message: string): void {
    const watched = this.#byChannel.get(channel);
    if (!watched) return;
    let event: WireEvent;
    try {
      event = JSON.parse(message) as WireEvent;
    } catch (err) {
      this.#logger?.error({ err, channel }, 'unreadable event on the redis bus');
      return;
    }
    this.#onEvent(watched, event, false);
  }

  #onEvent(watched: Watched, event: WireEvent, afterSync: boolean): void {
    if (watched.closed) return;
    if (watched.buffer) {
      watched.buffer.push(event);
      return;
    }
    if (event.epoch !== watched.epoch) {
      if (watched.redisSeq === 0 && event.seq === 1) {
        watched.epoch = event.epoch;
      } else {
        // Waiting after a sync: older than the state just read, it is already accounted for.
        if (!afterSync) this.#startSync(watched, event);
        return;
      }
    }
    if (event.seq <= watched.redisSeq) return;
    if (event.seq > watched.redisSeq + 1) {
      this.#logger?.warn({ item: watched.item, expected: watched.redisSeq + 1, got: event.seq }, 'gap on the redis bus; repairing');
      this.#startSync(watched, event);
      return;
    }
    watched.redisSeq = event.seq;
    this.#deliver(watched, event);
  }

  #startSync(watched: Watched, trigger?: WireEvent): void {
    if (watched.buffer) {
      if (trigger) watched.buffer.push(trigger);
      return;
    }
    watched.buffer = trigger ? [trigger] : [];
    watched.syncing = this.#sync(watched);
  }

  /** Brings the local copy to Redis's state, retrying until it can (or the item is forgotten). */
  async #sync(watched: Watched): Promise<void> {
    for (let attempt = 0; !watched.closed; attempt++) {
      try {
        let remote = await this.#fetch(watched.item);
        if (remote.seq === 0 && watched.state && watched.state.seq > 0) {
          if (await this.#restore(watched)) {
            this.#logger?.info({ item: watched.item, seq: watched.redisSeq }, 'restored an item redis had lost');
          }
          remote = await this.#fetch(watched.item);
        }
        this.#reconcile(watched, remote);
        const waiting = watched.buffer ?? [];
        watched.buffer = null;
        watched.syncing = null;
        for (const event of waiting) this.#onEvent(watched, event, true);
        return;
      } catch (err) {
        if (watched.closed) return;
        this.#logger?.warn({ err: (err as Error).message, item: watched.item }, 'redis bus sync failed; retrying');
        await sleep(backoff(attempt));
      }
    }
  }

  #resyncAll(): void {
    const syncs = [...this.#watched.values()].map((watched) => {
      if (watched.state) this.#startSync(watched);
      return watched.syncing;
    });
    const all = Promise.all(syncs).then(() => {
      if (this.#resyncing === all) this.#resyncing = null;
    });
    this.#resyncing = all;
  }

  async #fetch(item: string): Promise<RemoteState> {
    const [seq, epoch, mergedFlat, history, order, rowsFlat] = await this.#patient.edgepushSnapshot(...this.#keys(item));
    const merged: Record<string, string | null> = Object.create(null);
    for (let i = 0; i < mergedFlat.length; i += 2) merged[mergedFlat[i]] = JSON.parse(mergedFlat[i + 1]);
    const rowJson = new Map<string, string>();
    for (let i = 0; i < rowsFlat.length; i += 2) rowJson.set(rowsFlat[i], rowsFlat[i + 1]);
    const rows = new Map<string, FieldValues>();
    for (const key of order) {
      const row = rowJson.get(key);
      if (row !== undefined) rows.set(key, fieldValues(JSON.parse(row)));
    }
    return {
      seq: Number(seq),
      epoch,
      merged: mergedFlat.length > 0 ? merged : null,
      history: history.map((line) => JSON.parse(line) as WireEvent),
      rows,
    };
  }

  async #restore(watched: Watched): Promise<boolean> {
    const state = watched.state!;
    const snapshot = state.snapshot();
    const history = snapshot.history
      .map((event) => ({ seq: event.seq - watched.offset, epoch: watched.epoch, fields: event.fields }))
      .filter((event) => event.seq > 0)
      .map((event) => JSON.stringify({ item: watched.item, ...event }));
    const payload = JSON.stringify({
      seq: String(watched.redisSeq),
      epoch: watched.epoch,
      merged: snapshot.merged ?? {},
      history,
      rows: [...snapshot.rows],
    });
    return (await this.#patient.edgepushRestore(...this.#keys(watched.item), payload)) === 1;
  }

  #reconcile(watched: Watched, remote: RemoteState): void {
    const state = watched.state;
    if (!state) {
      watched.state = ItemState.fromSnapshot(toSnapshot(watched.item, remote), this.historySize);
      watched.epoch = remote.epoch;
      watched.redisSeq = remote.seq;
      watched.offset = 0;
      return;
    }
    const sameEpoch = remote.epoch === watched.epoch;
    if (sameEpoch && remote.seq === watched.redisSeq) return;

    const newer = sameEpoch ? remote.history.filter((e) => e.seq > watched.redisSeq) : remote.history;
    const exact = sameEpoch && remote.seq > watched.redisSeq && newer[0]?.seq === watched.redisSeq + 1;
    // Events Redis still has are replayed as they were (DISTINCT subscribers see them), and
    // synthesized events close whatever they cannot explain. COMMAND rows are only synthesized:
    // replaying part of their history would add rows out of the shared order.
    let missed = exact || (state.rows.size === 0 && remote.rows.size === 0) ? newer : [];
    let synthesized = 0;
    // A clear the shard missed is passed on as a clear (DISTINCT and COMMAND clients get CS); the
    // differences then start from the emptied state.
    const lastClear = exact ? -1 : newer.findLastIndex((event) => event.clear === true);
    if (lastClear >= 0) {
      this.#deliver(watched, newer[lastClear]);
      synthesized++;
      missed = missed.slice(missed.indexOf(newer[lastClear]) + 1);
    }
    for (const event of missed) this.#deliver(watched, event);
    if (!exact) {
      for (const fields of differences(state, remote)) {
        this.#deliver(watched, { fields });
        synthesized++;
      }
      this.#logger?.warn(
        { item: watched.item, replayed: missed.length, synthesized, epochChanged: !sameEpoch },
        'redis bus resynchronised an item it could not replay exactly',
      );
    }
    watched.epoch = remote.epoch;
    watched.redisSeq = remote.seq;
    watched.offset = state.seq - remote.seq;
  }

  #deliver(watched: Watched, wire: Pick<WireEvent, 'fields' | 'clear'> & Partial<Pick<WireEvent, 'seq' | 'epoch'>>): void {
    const state = watched.state!;
    const seq = state.seq + 1;
    const event = frozenEventOf(watched.item, seq, wire);
    state.apply(event);
    notifyWatchers(watched.watchers, event, this.#logger);
  }
}

/**
 * `promise`, or a BusUnavailableError once `signal` aborts: a watcher stops waiting for a load the
 * others may still want (its listener on the signal goes with it).
 */
function abandonable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(new BusUnavailableError('watch abandoned before the item loaded'));
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

/**
 * The bus event a wire event stands for, numbered `seq` locally; one that came through Redis keeps
 * its position there (a synthesised one has none).
 */
function frozenEventOf(item: string, seq: number, wire: Pick<WireEvent, 'fields' | 'clear'> & Partial<Pick<WireEvent, 'seq' | 'epoch'>>): ItemEvent {
  if (wire.clear) return freezeClearEvent(item, seq);
  const position = wire.seq !== undefined && wire.epoch !== undefined ? formatFeedPosition({ epoch: wire.epoch, seq: wire.seq }) : undefined;
  return freezeEvent(item, seq, wire.fields, position);
}

function toSnapshot(item: string, remote: RemoteState): ItemSnapshot {
  return {
    item,
    seq: remote.seq,
    merged: remote.merged,
    history: remote.history.map((e) => frozenEventOf(item, e.seq, e)),
    rows: remote.rows,
  };
}

/** Updates that turn the local state into the remote one: rows first, then the merged values. */
function differences(state: ItemState, remote: RemoteState): FieldValues[] {
  const updates: FieldValues[] = [];
  const local = state.snapshot();
  for (const key of local.rows.keys()) {
    if (!remote.rows.has(key)) updates.push({ [KEY_FIELD]: key, [COMMAND_FIELD]: 'DELETE' });
  }
  for (const [key, row] of remote.rows) {
    const held = local.rows.get(key);
    if (!held) {
      updates.push({ ...row, [KEY_FIELD]: key, [COMMAND_FIELD]: 'ADD' });
      continue;
    }
    const changed = changedFields(held, row);
    if (Object.keys(changed).length > 0) updates.push({ ...changed, [KEY_FIELD]: key, [COMMAND_FIELD]: 'UPDATE' });
  }
  // Row updates moved the local merged values too: compare against what they left.
  let merged: Record<string, string | null> = { ...local.merged };
  for (const update of updates) merged = { ...merged, ...update };
  const changed = changedFields(merged, remote.merged ?? {});
  if (Object.keys(changed).length > 0) updates.push(changed);
  return updates;
}

/** Fields whose value differs in `to`; a field `to` lacks becomes null. */
function changedFields(from: FieldValues, to: FieldValues): Record<string, string | null> {
  // Null prototype: field names are data (a feed may well name one `__proto__`).
  const changed: Record<string, string | null> = Object.create(null);
  for (const [name, value] of Object.entries(to)) if (from[name] !== value) changed[name] = value;
  for (const [name, value] of Object.entries(from)) if (!Object.hasOwn(to, name) && value !== null) changed[name] = null;
  return changed;
}
