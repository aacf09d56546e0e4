/**
 * What every Bus implementation promises (origin/bus/bus.ts), as one suite both the embedded and the
 * Redis bus run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, ItemEvent } from '../../origin/bus/bus.ts';

export const until = async (check: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

export function busContract(name: string, makeBus: (historySize: number) => Promise<Bus>): void {
  describe(`${name}: bus contract`, () => {
    const open: Bus[] = [];
    const bus = async (historySize = 5) => {
      const b = await makeBus(historySize);
      open.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    it('numbers events from 1 and delivers each once, in order, after the snapshot', async () => {
      const b = await bus();
      expect(await b.publish('t1', { a: '1' })).toBe(1);
      const got: ItemEvent[] = [];
      const watch = await b.watch('t1', (e) => got.push(e));
      expect(watch.snapshot).toMatchObject({ item: 't1', seq: 1, merged: { a: '1' } });
      expect(await b.publish('t1', { b: '2' })).toBe(2);
      expect(await b.publish('t1', { a: null })).toBe(3);
      await until(() => got.length === 2);
      expect(got.map((e) => [e.seq, e.fields])).toEqual([
        [2, { b: '2' }],
        [3, { a: null }],
      ]);
      watch.close();
      await b.publish('t1', { a: 'x' });
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toHaveLength(2);
    });

    it('snapshots an item that never had an event as empty', async () => {
      const b = await bus();
      const watch = await b.watch('never', () => {});
      expect(watch.snapshot).toEqual({ item: 'never', seq: 0, merged: null, history: [], rows: new Map() });
      watch.close();
    });

    it('keeps merged values, a bounded history and COMMAND rows in insertion order', async () => {
      const b = await bus(3);
      await b.publish('pf', { key: 'a', command: 'ADD', qty: '1' });
      await b.publish('pf', { key: 'b', command: 'ADD', qty: '2' });
      await b.publish('pf', { key: 'c', command: 'ADD', qty: '3' });
      await b.publish('pf', { key: 'a', command: 'UPDATE', qty: '10' });
      await b.publish('pf', { key: 'b', command: 'DELETE', qty: null });
      await b.publish('pf', { note: 'no command: not a row change' });
      const { snapshot } = await b.watch('pf', () => {});
      expect(snapshot.seq).toBe(6);
      expect(snapshot.merged).toEqual({ key: 'b', command: 'DELETE', qty: null, note: 'no command: not a row change' });
      expect(snapshot.history.map((e) => e.seq)).toEqual([4, 5, 6]);
      expect([...snapshot.rows]).toEqual([
        ['a', { key: 'a', command: 'ADD', qty: '10' }],
        ['c', { key: 'c', command: 'ADD', qty: '3' }],
      ]);
    });

    it('clears an item: watchers get a clear event, later snapshots start empty', async () => {
      const b = await bus(3);
      await b.publish('cl', { key: 'a', command: 'ADD', qty: '1' });
      await b.publish('cl', { key: 'b', command: 'ADD', qty: '2' });
      const got: ItemEvent[] = [];
      const watch = await b.watch('cl', (e) => got.push(e));
      expect(await b.clear('cl')).toBe(3);
      await until(() => got.length === 1);
      expect(got[0]).toMatchObject({ seq: 3, clear: true, fields: {} });
      const empty = await b.watch('cl', () => {});
      expect(empty.snapshot).toEqual({ item: 'cl', seq: 3, merged: null, history: [], rows: new Map() });
      await b.publish('cl', { key: 'c', command: 'ADD', qty: '3' });
      await until(() => got.length === 2);
      const after = await b.watch('cl', () => {});
      expect(after.snapshot.history.map((e) => [e.seq, e.clear, e.fields.key])).toEqual([[4, false, 'c']]);
      expect([...after.snapshot.rows.keys()]).toEqual(['c']);
      expect(after.snapshot.merged).toEqual({ key: 'c', command: 'ADD', qty: '3' });
      for (const w of [watch, empty, after]) w.close();
    });

    it('treats field names as data, even __proto__', async () => {
      const b = await bus();
      await b.publish('proto', JSON.parse('{"__proto__":"x","constructor":null}'));
      const { snapshot } = await b.watch('proto', () => {});
      expect(snapshot.merged!.toString).toBeUndefined();
      expect(Object.entries(snapshot.merged!).sort()).toEqual([
        ['__proto__', 'x'],
        ['constructor', null],
      ]);
    });

    it('gives a late watcher a snapshot consistent with the events it then receives', async () => {
      const b = await bus();
      const publishing = (async () => {
        for (let i = 1; i <= 200; i++) {
          await b.publish('race', { n: String(i) });
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      await new Promise((r) => setTimeout(r, 30));
      const got: ItemEvent[] = [];
      const watch = await b.watch('race', (e) => got.push(e));
      await publishing;
      await until(() => watch.snapshot.seq + got.length === 200);
      got.forEach((e, i) => expect(e.seq).toBe(watch.snapshot.seq + 1 + i));
      expect(got.length).toBeGreaterThan(0);
      expect(got.at(-1)?.fields).toEqual({ n: '200' });
    });

    it('publishIf publishes only on the expected seq', async () => {
      const b = await bus();
      expect(await b.publishIf('cas', 0, { v: 'first' })).toBe(1);
      expect(await b.publishIf('cas', 0, { v: 'lost' })).toBeNull();
      expect(await b.publishIf('cas', 1, { v: 'second' })).toBe(2);
      const { snapshot } = await b.watch('cas', () => {});
      expect(snapshot.merged).toEqual({ v: 'second' });
    });

    it('runs an exclusive task once and hands it over when its holder stops', async () => {
      const b = await bus();
      const running: string[] = [];
      const signals: AbortSignal[] = [];
      const task = (who: string) => (signal: AbortSignal) => {
        running.push(who);
        signals.push(signal);
      };
      const stopA = b.runExclusive('job', task('a'));
      const stopB = b.runExclusive('job', task('b'));
      await until(() => running.length === 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(running).toHaveLength(1);
      const [first] = running;
      (first === 'a' ? stopA : stopB)();
      expect(signals[0].aborted).toBe(true);
      await until(() => running.length === 2, 15_000);
      expect(running[1]).not.toBe(first);
      (first === 'a' ? stopB : stopA)();
      expect(signals[1].aborted).toBe(true);
    });
  });
}
