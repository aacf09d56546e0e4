import type { ShardView, Snapshot } from '../objects/registry-types.ts';
import { isUnreachable, placedSince } from './local-observations.ts';

/** A shard that just came back ramps from this share of its weight to all of it over SLOW_START_MS. */
const SLOW_START_FLOOR = 0.1;
export const SLOW_START_MS = 30_000;

/** Shards of `pool` that may take a new session right now. */
export function usableShards(snapshot: Snapshot, pool: readonly string[]): ShardView[] {
  return snapshot.shards.filter((s) => pool.includes(s.id) && s.healthy && !s.ejected && !s.draining && s.weight > 0 && !isUnreachable(s.id));
}

/** The registry counts the shard in the roster and healthy: its sessions live. */
export function isAlive(snapshot: Snapshot, shard: string): boolean {
  return snapshot.shards.some((s) => s.id === shard && s.healthy);
}

/** Alive, and this isolate has not just failed to reach it: requests of its sessions go there. */
export function isServing(snapshot: Snapshot, shard: string): boolean {
  return isAlive(snapshot, shard) && !isUnreachable(shard);
}

/** How far a shard is through its slow start: 1 = fully in rotation. */
function ramp(s: ShardView, now: number): number {
  if (s.upSince === null) return 0;
  return Math.min(1, Math.max(SLOW_START_FLOOR, (now - s.upSince) / SLOW_START_MS));
}

function weightedPick(weights: readonly number[], random: () => number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/**
 * Best of two random choices, drawn in proportion to weight, keeping the one with fewer sessions per
 * unit of weight. Two choices avoid the herd that "always the emptiest" causes when many isolates act
 * on the same slightly stale snapshot. A shard in slow start takes part in a placement only with its
 * ramp's probability: an empty shard would otherwise win every comparison and be flooded at once.
 */
export function pickShard(all: readonly ShardView[], now = Date.now(), random: () => number = Math.random): string | null {
  const admitted = all.filter((s) => random() < ramp(s, now));
  const candidates = admitted.length ? admitted : all;
  if (candidates.length === 0) return null;
  if (candidates.length === 1) return candidates[0].id;
  const weights = candidates.map((s) => s.weight);
  const a = weightedPick(weights, random);
  const others = candidates.map((_, i) => i).filter((i) => i !== a);
  const b = others[weightedPick(others.map((i) => weights[i]), random)];
  const load = (i: number) => (candidates[i].sessions + placedSince(candidates[i].id, candidates[i].probedAt)) / Math.max(weights[i], 1e-9);
  return (load(a) <= load(b) ? candidates[a] : candidates[b]).id;
}
