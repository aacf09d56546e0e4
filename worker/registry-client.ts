import type { Env } from './env.ts';
import type { EdgeConfig } from './config.ts';
import type { RegistrySettings } from '../objects/shard-registry.ts';
import type { RosterEntry, Snapshot } from '../objects/registry-types.ts';
import { forgetLocalObservations, noteUnreachable } from './local-observations.ts';

/**
 * The isolate's view of the shard registry: a snapshot trusted for SNAPSHOT_TTL_MS, refreshed in the
 * background (stale-while-revalidate) so requests never wait on the registry after the first one.
 * Routing counters ride along with each refresh instead of costing a call per request.
 */

let snapshot: Snapshot | undefined;
let refreshedAt = 0;
let refreshing: Promise<Snapshot> | undefined;
let counters: Record<string, number> = {};

export function count(counter: string, by = 1): void {
  counters[counter] = (counters[counter] ?? 0) + by;
}

export function registryOf(env: Env) {
  return env.REGISTRY.get(env.REGISTRY.idFromName('global'));
}

export function rosterOf(config: EdgeConfig): RosterEntry[] {
  return [...config.shards.values()].map(({ id, url, weight }) => ({ id, url, weight }));
}

export function settingsOf(env: Env, config: EdgeConfig): RegistrySettings {
  return { probeIntervalMs: config.timing.probeIntervalMs, moveRate: config.timing.moveRate, originAdminToken: env.ORIGIN_ADMIN_TOKEN };
}

function refresh(env: Env, config: EdgeConfig): Promise<Snapshot> {
  refreshing ??= (async () => {
    const deltas = counters;
    counters = {};
    try {
      const next = await registryOf(env).sync(rosterOf(config), settingsOf(env, config), deltas);
      snapshot = next;
      refreshedAt = Date.now();
      forgetLocalObservations();
      return next;
    } catch (err) {
      for (const [k, v] of Object.entries(deltas)) count(k, v);
      throw err;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

/** A snapshot taken now, with this isolate's counters delivered: for admin reads that must be current. */
export function freshSnapshot(env: Env, config: EdgeConfig): Promise<Snapshot> {
  return refresh(env, config);
}

export async function snapshotOf(env: Env, config: EdgeConfig, waitUntil: (p: Promise<unknown>) => void): Promise<Snapshot> {
  if (!snapshot) return refresh(env, config);
  if (Date.now() - refreshedAt > config.timing.snapshotTtlMs) waitUntil(refresh(env, config).catch(() => undefined));
  return snapshot;
}

/** A connection to the shard failed: stop sending it traffic from here and have the registry look now. */
export function reportUnreachable(env: Env, shard: string, waitUntil: (p: Promise<unknown>) => void): void {
  noteUnreachable(shard);
  waitUntil(registryOf(env).reportUnreachable().catch(() => undefined));
}
