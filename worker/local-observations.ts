/**
 * What this isolate saw since its registry snapshot was taken: sessions it placed (so a burst does
 * not pile onto the shard the snapshot calls emptiest) and shards that refused connections (so it
 * stops using them before the registry's next probe says so). A fresh snapshot supersedes both.
 */
const placed = new Map<string, number>();
const unreachable = new Set<string>();

export function notePlaced(shard: string): void {
  placed.set(shard, (placed.get(shard) ?? 0) + 1);
}

export function placedSince(shard: string): number {
  return placed.get(shard) ?? 0;
}

export function noteUnreachable(shard: string): void {
  unreachable.add(shard);
}

export function isUnreachable(shard: string): boolean {
  return unreachable.has(shard);
}

export function forgetLocalObservations(): void {
  placed.clear();
  unreachable.clear();
}
