import { startEdge, type EdgeHandle, type EdgeSecrets, type EdgeShard } from './edge.ts';
import { httpRequest } from './http.ts';
import { publish } from './origin.ts';
import { waitUntil } from './wait.ts';

/**
 * What tests of mode `session` share: the edge's counters, clients placed on a chosen shard, and a
 * counted DISTINCT feed to tell a gap or a duplicate from a clean stream.
 */

export const SESSION_HOST = 'session.localhost';

/**
 * The edge in front of `shards`, serving mode `session` on session.localhost (no create limit: a test's
 * clients all come from one address) and any `domains` beside it; resolves once it answers there.
 */
export async function startSessionEdge(secrets: EdgeSecrets, shards: readonly EdgeShard[], domains: readonly Record<string, unknown>[] = []): Promise<EdgeHandle> {
  const edge = await startEdge({ secrets, shards, domains: [{ host: SESSION_HOST, modes: ['session'], createsPerMinute: 0 }, ...domains] });
  // By address, with the domain in the Host header: a caller may leave name resolution to a browser.
  const healthy = async () => (await httpRequest(edge.port, '/lightstreamer/healthcheck', { host: SESSION_HOST, method: 'GET' }).catch(() => null))?.status === 200;
  await waitUntil(healthy, 15_000, () => 'edge never healthy');
  return edge;
}

/** The edge's counters (upstream moves, ages, restores…), current as of this call. */
export async function edgeCounters(edge: EdgeHandle): Promise<Record<string, number>> {
  return ((await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> }).counters;
}

export const counterOf = async (edge: EdgeHandle, name: string): Promise<number> => (await edgeCounters(edge))[name] ?? 0;

/**
 * While `during` runs, new upstreams go to `shard` alone: every other shard of `shards` weighs 0.
 * The balancer picks the less loaded of two shards, so without this a test could wait long for one
 * on the busiest shard.
 */
export async function placingOn<T>(edge: EdgeHandle, shard: string, shards: readonly string[], during: () => Promise<T>): Promise<T> {
  const weigh = async (id: string, weight: number | null) => {
    const res = await edge.admin(`/_edge/api/shards/${id}/weight`, { method: 'PUT', body: JSON.stringify({ weight }) });
    if (!res.ok) throw new Error(`weight of ${id} answered ${res.status}: ${await res.text()}`);
  };
  const others = shards.filter((id) => id !== shard);
  for (const id of others) await weigh(id, 0);
  try {
    return await during();
  } finally {
    for (const id of others) await weigh(id, null);
  }
}

/**
 * Opens clients with `open` until one has its upstream on `shard` (any shard when null), closing the
 * others: the edge's snapshot of a weight change may lag a moment behind it.
 */
export async function openOnShard<T extends { shard(): string | null; close(): void }>(shard: string | null, open: (attempt: number) => Promise<T>, attempts = 30): Promise<T> {
  const seen: (string | null)[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const client = await open(attempt);
    if (shard === null || client.shard() === shard) return client;
    seen.push(client.shard());
    client.close();
  }
  throw new Error(`no upstream placed on ${shard} in ${attempts} tries: ${seen.join(',')}`);
}

export interface CountedFeed {
  /** The last event published: events are 1, 2, 3… */
  readonly last: number;
  /** Publish failures (none expected while the publishing origin lives). */
  readonly failures: string[];
  /** Stops publishing; resolves once the last publish answered. */
  stop(): Promise<void>;
}

/**
 * Publishes 1, 2, 3… as field `n` of `item` through `originUrl`, one event every `everyMs`, each
 * publish awaited before the next: with a Redis bus every shard gets the same numbered events.
 */
export function startCountedFeed(originUrl: string, token: string, item: string, everyMs = 100): CountedFeed {
  let last = 0;
  let running = true;
  const failures: string[] = [];
  const done = (async () => {
    while (running) {
      const next = last + 1;
      try {
        await publish(originUrl, token, { item, fields: { n: String(next) } });
        last = next;
      } catch (err) {
        failures.push(String(err));
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    get last() {
      return last;
    },
    failures,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** `values` is exactly 1…`last`: every event once, in order, none missing. */
export function countedGaps(values: readonly (string | null)[], last: number): string | null {
  const expected = Array.from({ length: last }, (_, i) => String(i + 1));
  if (values.length === expected.length && values.every((v, i) => v === expected[i])) return null;
  const dupes = values.filter((v, i) => values.indexOf(v) !== i);
  const missing = expected.filter((v) => !values.includes(v));
  const outOfOrder = values.some((v, i) => i > 0 && Number(v) <= Number(values[i - 1]));
  return `${values.length} events for 1…${last}: duplicates [${dupes.join(',')}], missing [${missing.join(',')}]${outOfOrder ? ', out of order' : ''}`;
}
