import { describe, expect, it } from 'vitest';
import type { ItemEvent } from '../origin/bus/bus.ts';
import { createBus } from '../origin/bus/create-bus.ts';
import { EmbeddedBus } from '../origin/bus/embedded.ts';
import { busContract } from './support/bus-contract.ts';

busContract('embedded', async (historySize) => new EmbeddedBus({ historySize }));

describe('embedded bus', () => {
  it('is what createBus gives without a Redis URL', async () => {
    const bus = createBus();
    expect(bus).toBeInstanceOf(EmbeddedBus);
    expect(bus.status()).toEqual({ kind: 'embedded', connected: true });
    await bus.close();
  });

  it('keeps every watcher in order when a watcher publishes from its callback', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    const first: number[] = [];
    const second: number[] = [];
    await bus.watch('echo', (e) => {
      first.push(e.seq);
      if (e.seq === 1) void bus.publish('echo', { n: 'reply' });
    });
    await bus.watch('echo', (e) => second.push(e.seq));
    await bus.publish('echo', { n: 'hello' });
    expect(first).toEqual([1, 2]);
    expect(second).toEqual([1, 2]);
  });

  it('does not hand an event to a watcher whose snapshot already holds it', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    let late: { snapshotSeq: number; got: ItemEvent[] } | null = null;
    await bus.watch('join', (e) => {
      if (late) return;
      const got: ItemEvent[] = [];
      late = { snapshotSeq: 0, got };
      void bus.watch('join', (ev) => got.push(ev)).then((w) => (late!.snapshotSeq = w.snapshot.seq));
      void e;
    });
    await bus.publish('join', { n: '1' });
    await bus.publish('join', { n: '2' });
    const { snapshotSeq, got } = late!;
    expect(snapshotSeq + got.length).toBe(2);
    expect(got.every((e) => e.seq > snapshotSeq)).toBe(true);
  });

  it('keeps delivering to the others when a watcher throws', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    const got: number[] = [];
    await bus.watch('boom', () => {
      throw new Error('watcher bug');
    });
    await bus.watch('boom', (e) => got.push(e.seq));
    await bus.publish('boom', { a: '1' });
    expect(got).toEqual([1]);
  });
});

describe('embedded bus memory', () => {
  it('forgets items nobody published once their last watcher closes', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    for (let i = 0; i < 1000; i++) {
      const first = await bus.watch(`random-${i}`, () => {});
      const second = await bus.watch(`random-${i}`, () => {});
      first.close();
      expect(bus.heldItemCount).toBe(1);
      second.close();
      second.close();
    }
    expect(bus.heldItemCount).toBe(0);
  });

  it('keeps a published item after its watchers close, and its snapshot with it', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    (await bus.watch('kept', () => {})).close();
    await bus.publish('kept', { a: '1' });
    (await bus.watch('kept', () => {})).close();
    expect(bus.heldItemCount).toBe(1);
    expect((await bus.watch('kept', () => {})).snapshot.merged).toEqual({ a: '1' });
  });

  it('leaves no entry behind for a refused compare-and-set publish', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    expect(await bus.publishIf('never', 5, { a: '1' })).toBeNull();
    expect(bus.heldItemCount).toBe(0);
    expect(await bus.publishIf('never', 0, { a: '1' })).toBe(1);
  });
});
