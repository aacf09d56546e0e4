/**
 * The chaos bench's feed: each item gets an update with a counter field `n` (1, 2, 3, …) at a steady
 * rate, published straight into Redis with the origins' own script (origin/bus/redis-publish.lua), as
 * README "Publishing from any language" describes. Publishing does not depend on any shard, so a shard
 * fault never stops the feed; a Redis fault does, and the publisher says how long.
 *
 * `n` counts successful publishes only: a publish Redis refused (down, restarting) is retried with
 * the same `n` on the next tick, so the `n`s the clients must receive are exactly 1…last, each with
 * the time it was sent.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ROOT } from '../../test/support/process.ts';

const PREFIX = 'edgepush:';
/** The origins' history size (the DISTINCT snapshot and gap repair depend on it). */
const HISTORY = 100;
const RECONNECT_EVERY_MS = 100;

type PublishingRedis = Redis & { chaosPublish(...args: (string | number)[]): Promise<number> };

export class SeqPublisher {
  readonly #redis: PublishingRedis;
  readonly #timer: ReturnType<typeof setInterval>;
  /** Per item: send time of each published n (index n). */
  readonly #published: Record<string, number[]> = {};
  readonly #inFlight = new Set<string>();
  #refused = 0;
  #lastRefusalAt = 0;

  constructor(redisUrl: string, readonly items: readonly string[], perItemPerSecond: number) {
    const redis = new Redis(redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => RECONNECT_EVERY_MS,
      lazyConnect: false,
    });
    redis.on('error', () => undefined);
    redis.defineCommand('chaosPublish', { numberOfKeys: 5, lua: readFileSync(path.join(ROOT, 'origin/bus/redis-publish.lua'), 'utf8') });
    this.#redis = redis as PublishingRedis;
    for (const item of items) this.#published[item] = [Number.NaN];
    this.#timer = setInterval(() => {
      for (const item of items) if (!this.#inFlight.has(item)) void this.#publish(item);
    }, 1000 / perItemPerSecond);
  }

  /** Send times by n, per item (entry 0 unused). */
  get log(): Readonly<Record<string, readonly number[]>> {
    return this.#published;
  }

  /** Per item, the last n sent at least `ageMs` ago: what every client should hold by now. */
  settledBefore(ageMs: number): Record<string, number> {
    const limit = Date.now() - ageMs;
    const required: Record<string, number> = {};
    for (const item of this.items) {
      const times = this.#published[item];
      let n = times.length - 1;
      while (n > 0 && times[n] > limit) n--;
      required[item] = n;
    }
    return required;
  }

  /**
   * Per item, what a client must hold to have recovered from something that began at `at`: every n
   * sent at least `ageMs` ago, and at least the first n sent after `at` (none can hold anything yet
   * while there is none, e.g. while Redis is away).
   */
  requiredAfter(at: number, ageMs: number): Record<string, number> {
    const required = this.settledBefore(ageMs);
    for (const item of this.items) {
      const times = this.#published[item];
      let first = times.length - 1;
      while (first > 0 && times[first - 1] >= at) first--;
      // MAX_SAFE_INTEGER, not Infinity: it crosses IPC as JSON.
      required[item] = Math.max(required[item], times[first] >= at ? first : Number.MAX_SAFE_INTEGER);
    }
    return required;
  }

  get published(): number {
    return this.items.reduce((sum, item) => sum + this.#published[item].length - 1, 0);
  }

  get refused(): number {
    return this.#refused;
  }

  get lastRefusalAt(): number {
    return this.#lastRefusalAt;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#inFlight.size > 0) await new Promise((r) => setTimeout(r, 10));
    this.#redis.disconnect();
  }

  async #publish(item: string): Promise<void> {
    const times = this.#published[item];
    const n = times.length;
    const keys = ['meta', 'merged', 'history', 'rows', 'order'].map((k) => `${PREFIX}{${item}}:${k}`);
    this.#inFlight.add(item);
    const sentAt = Date.now();
    try {
      await this.#redis.chaosPublish(...keys, item, JSON.stringify({ n: String(n) }), HISTORY, randomUUID(), '', `${PREFIX}{${item}}:events`);
      times[n] = sentAt;
    } catch {
      this.#refused++;
      this.#lastRefusalAt = Date.now();
    } finally {
      this.#inFlight.delete(item);
    }
  }
}
