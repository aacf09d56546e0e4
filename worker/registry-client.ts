import type { Env } from './env.ts';
import type { EdgeConfig } from './config.ts';
import type { RegistrySettings } from '../objects/shard-registry.ts';
import type { RosterEntry, ShardFailure, Snapshot } from '../objects/registry-types.ts';
import { adoptSnapshot, noteUnreachable } from './local-observations.ts';

/**
 * The isolate's view of the shard registry: a snapshot trusted for SNAPSHOT_TTL_MS, refreshed in the
 * background (stale-while-revalidate) so requests never wait on the registry after the first one.
 * Routing counters ride along with each refresh instead of costing a call per request.
 */

let snapshot: Snapshot | undefined;
let refreshedAt = 0;
let refreshing: { readonly promise: Promise<Snapshot>; readonly since: number } | undefined;
let counters: Record<string, number> = {};
/**
 * A refresh begun by a request that has since ended may never settle (the runtime cancels what that
 * request was waiting on): after this long another request starts its own.
 */
const REFRESH_GIVE_UP_MS = 5_000;
/**
 * Failures of one shard seen within this interval reach the registry as one report: a shard that
 * hangs under a thousand sessions costs the registry a few calls, not a thousand.
 */
const REPORT_EVERY_MS = 250;
/** Timeouts (and silent streams) per shard not yet reported; a key is present while a report is due. */
const unreported = new Map<string, number>();
const lastReportAt = new Map<string, number>();

export function count(counter: string, by = 1): void {
  counters[counter] = (counters[counter] ?? 0) + by;
}

export function registryOf(env: Env) {
  return env.REGISTRY.get(env.REGISTRY.idFromName('global'));
}

export function rosterOf(config: EdgeConfig): RosterEntry[] {
  return [...config.shards.values()].map((shard) => ({ ...shard }));
}

export function settingsOf(env: Env, config: EdgeConfig): RegistrySettings {
  return { probeIntervalMs: config.timing.probeIntervalMs, moveRate: config.timing.moveRate, originAdminToken: env.ORIGIN_ADMIN_TOKEN };
}

async function sync(env: Env, config: EdgeConfig): Promise<Snapshot> {
  const deltas = counters;
  counters = {};
  try {
    const next = await registryOf(env).sync(rosterOf(config), settingsOf(env, config), deltas);
    snapshot = next;
    refreshedAt = Date.now();
    adoptSnapshot(next);
    return next;
  } catch (err) {
    for (const [k, v] of Object.entries(deltas)) count(k, v);
    throw err;
  }
}

function refresh(env: Env, config: EdgeConfig): Promise<Snapshot> {
  if (refreshing && Date.now() - refreshing.since < REFRESH_GIVE_UP_MS) return refreshing.promise;
  const attempt = { promise: sync(env, config), since: Date.now() };
  refreshing = attempt;
  const settled = () => {
    if (refreshing === attempt) refreshing = undefined;
  };
  attempt.promise.then(settled, settled);
  return attempt.promise;
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

/**
 * A call to the shard failed. An unreachable shard gets no more traffic from this isolate until the
 * next snapshot; every failure has the registry probe the shard soon, and timeouts count towards
 * its ejection.
 */
export function reportFailure(env: Env, shard: string, failure: ShardFailure, waitUntil: (p: Promise<unknown>) => void): void {
  if (failure === 'unreachable') noteUnreachable(shard);
  const due = unreported.has(shard);
  unreported.set(shard, (unreported.get(shard) ?? 0) + (failure === 'timeout' || failure === 'silent' ? 1 : 0));
  if (due) return;
  const wait = Math.max(0, (lastReportAt.get(shard) ?? 0) + REPORT_EVERY_MS - Date.now());
  waitUntil(
    new Promise((resolve) => setTimeout(resolve, wait)).then(() => {
      const timeouts = unreported.get(shard) ?? 0;
      unreported.delete(shard);
      lastReportAt.set(shard, Date.now());
      return registryOf(env).reportFailure(shard, timeouts).catch(() => undefined);
    }),
  );
}
