import { afterEach, describe, expect, it, vi } from 'vitest';
import { pickShard, SLOW_START_MS } from '../worker/balance.ts';
import type { ShardView } from '../objects/registry-types.ts';
import { adoptSnapshot, notePlaced, placedSince } from '../worker/local-observations.ts';

const shard = (id: string, sessions: number, over: Partial<ShardView> = {}): ShardView => ({
  id,
  healthy: true,
  draining: false,
  weight: 1,
  sessions,
  probedAt: 0,
  upSince: 0,
  ejected: false,
  ...over,
});

function spread(candidates: ShardView[], runs = 4_000, now = Date.now()): Record<string, number> {
  const tally: Record<string, number> = {};
  for (let i = 0; i < runs; i++) {
    const id = pickShard(candidates, now)!;
    tally[id] = (tally[id] ?? 0) + 1;
  }
  return tally;
}

describe('balancing: best of two weighted random choices', () => {
  it('never picks from an empty pool and always picks a lone shard', () => {
    expect(pickShard([])).toBeNull();
    expect(pickShard([shard('a', 1_000)])).toBe('a');
  });

  it('prefers the less loaded of two, without sending everything to the emptiest', () => {
    const tally = spread([shard('a', 100), shard('b', 0), shard('c', 50)]);
    // b wins every draw it appears in (2/3 of draws); it never takes all of them.
    expect(tally.b / 4_000).toBeGreaterThan(0.55);
    expect(tally.b / 4_000).toBeLessThan(0.8);
    expect(tally.a).toBeUndefined();
  });

  it('compares load per unit of weight', () => {
    expect(pickShard([shard('a', 30, { weight: 3 }), shard('b', 20, { weight: 1 })])).toBe('a');
  });

  it('ramps a shard that just came back instead of flooding it', () => {
    const now = 1_000_000;
    const fresh = spread([shard('old', 100), shard('new', 0, { upSince: now })], 4_000, now);
    const later = spread([shard('old', 100), shard('new', 0, { upSince: now - SLOW_START_MS })], 4_000, now);
    expect(fresh.new / 4_000).toBeLessThan(0.35);
    expect(later.new).toBe(4_000);
  });
});

describe("this isolate's placements", () => {
  afterEach(() => {
    vi.useRealTimers();
    adoptSnapshot({ takenAt: 0, shards: [] });
  });

  it('count until a registry probe has counted them: a new snapshot from an older probe keeps them', () => {
    vi.useFakeTimers();
    vi.setSystemTime(10_000);
    for (let i = 0; i < 3; i++) notePlaced('a');
    // The registry's figures come from a probe before these placements: they still count.
    adoptSnapshot({ takenAt: 10_500, shards: [shard('a', 4, { probedAt: 9_000 })] });
    expect(placedSince('a', 9_000)).toBe(3);
    vi.setSystemTime(12_000);
    notePlaced('a');
    // A probe after the first three counted them; the fourth is still news.
    adoptSnapshot({ takenAt: 12_500, shards: [shard('a', 7, { probedAt: 11_000 })] });
    expect(placedSince('a', 11_000)).toBe(1);
  });
});
