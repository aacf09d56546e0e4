import type { ShardView, Snapshot } from '../objects/shard-registry.ts';
import { isUnreachable, placedSince } from './registry-client.ts';

/** A shard that just came back ramps from this share of its weight to all of it over SLOW_START_MS. */
const SLOW_START_FLOOR = 0.1;
export const SLOW_START_MS = 30_000;

/** Shards of `pool` that may take a new session right now. */
export function usableShards(snapshot: Snapshot, pool: readonly string[]): ShardView[] {
  return snapshot.shards.filter((s) => pool.includes(s.id) && s.healthy && !s.draining && s.weight > 0 && !isUnreachable(s.id));
}

export function isServing(snapshot: Snapshot, shard: string): boolean {
  const view = snapshot.shards.find((s) => s.id === shard);
  return !!view && view.healthy && !isUnreachable(shard);
}

function effectiveWeight(s: ShardView, now: number): number {
  if (s.upSince === null) return 0;
  const ramp = Math.min(1, Math.max(SLOW_START_FLOOR, (now - s.upSince) / SLOW_START_MS));
  return s.weight * ramp;
}

function weightedPick(candidates: readonly ShardView[], weights: readonly number[], random: () => number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return candidates.length - 1;
}

/**
 * Best of two random choices, each drawn in proportion to effective weight, keeping the one with
 * fewer sessions per unit of weight. Two choices avoid the herd that "always the emptiest" causes
 * when many isolates act on the same slightly stale snapshot; weights and slow start bias the draw.
 */
export function pickShard(candidates: readonly ShardView[], now = Date.now(), random: () => number = Math.random): string | null {
  if (candidates.length === 0) return null;
  if (candidates.length === 1) return candidates[0].id;
  const weights = candidates.map((s) => effectiveWeight(s, now));
  const a = weightedPick(candidates, weights, random);
  const rest = candidates.filter((_, i) => i !== a);
  const b = candidates.indexOf(rest[weightedPick(rest, weights.filter((_, i) => i !== a), random)]);
  const load = (i: number) => (candidates[i].sessions + placedSince(candidates[i].id)) / Math.max(weights[i], 1e-9);
  return (load(a) <= load(b) ? candidates[a] : candidates[b]).id;
}
