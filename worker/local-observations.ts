import type { Snapshot } from '../objects/registry-types.ts';

/**
 * What this isolate saw that its registry snapshot cannot know yet: sessions it placed after the
 * probe that counted each shard's sessions (so a burst does not pile onto the shard the snapshot
 * calls emptiest), and shards that refused connections (so it stops using them before the
 * registry's next probe says so). A fresh snapshot supersedes what its probes have seen.
 */
const placed = new Map<string, number[]>();
const unreachable = new Set<string>();

export function notePlaced(shard: string): void {
  const times = placed.get(shard);
  if (times) times.push(Date.now());
  else placed.set(shard, [Date.now()]);
}

/** Sessions placed on `shard` after `probedAt`, when the registry last counted its sessions. */
export function placedSince(shard: string, probedAt: number | null): number {
  const times = placed.get(shard);
  if (!times) return 0;
  return probedAt === null ? times.length : times.filter((t) => t > probedAt).length;
}

export function noteUnreachable(shard: string): void {
  unreachable.add(shard);
}

export function isUnreachable(shard: string): boolean {
  return unreachable.has(shard);
}

/** A new snapshot: placements its probes counted are forgotten, and the registry rules on reachability. */
export function adoptSnapshot(snapshot: Snapshot): void {
  unreachable.clear();
  for (const view of snapshot.shards) {
    const times = placed.get(view.id);
    if (!times) continue;
    const unseen = view.probedAt === null ? times : times.filter((t) => t > view.probedAt!);
    if (unseen.length) placed.set(view.id, unseen);
    else placed.delete(view.id);
  }
  for (const shard of placed.keys()) if (!snapshot.shards.some((s) => s.id === shard)) placed.delete(shard);
}
