import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as n from '../protocol/notifications.ts';
import { parseServerLine } from '../protocol/server-line.ts';
import { decodeUpdateValues, encodeUpdateValues } from '../protocol/update-line.ts';
import { SubscriptionTable, type Mode } from '../objects/session/subscriptions.ts';

/**
 * The session layer's subscription table (objects/session/subscriptions.ts) moved between upstreams
 * at any point of a feed: what the client sees, read back as the official client reads it, must be
 * the feed itself — MERGE values and COMMAND rows equal to the source's after the move, DISTINCT
 * events each once and in order (when the move is shorter than the new upstream's history), and no
 * second SUBOK or EOS.
 */

type Values = (string | null)[];

/** The official client's view: last values per item, COMMAND rows, DISTINCT events, the lines it got. */
class ClientModel {
  readonly last = new Map<number, Values>();
  readonly rows = new Map<string, Values>();
  readonly events: Values[] = [];
  readonly tags: string[] = [];

  constructor(private readonly mode: Mode) {}

  read(line: string): void {
    const parsed = parseServerLine(line.replace(/\r\n$/, ''));
    this.tags.push(parsed.tag);
    if (parsed.tag !== 'U') return;
    const previous = this.last.get(parsed.item);
    const decoded = decodeUpdateValues(parsed.values);
    if (previous === undefined && decoded.some((v) => v === undefined)) throw new Error(`first update with unchanged fields: ${line}`);
    const values = decoded.map((v, i) => (v === undefined ? previous![i] : (v as string | null)));
    this.last.set(parsed.item, values);
    if (this.mode === 'COMMAND') {
      if (values[1] === 'DELETE') this.rows.delete(values[0]!);
      else this.rows.set(values[0]!, values);
    } else if (this.mode === 'DISTINCT') this.events.push(values);
  }
}

/** One item's source of truth and the upstream's lines for it, encoded as an origin encodes them. */
class Source {
  merged: Values = ['0', '0'];
  readonly rows = new Map<string, Values>();
  readonly history: Values[] = [];
  #lastSent: Values | null = null;

  constructor(private readonly mode: Mode) {}

  /** The next event of the feed, as a U line on the upstream (unchanged fields where they are). */
  event(step: number, choice: number): string {
    let values: Values;
    if (this.mode === 'COMMAND') {
      const key = `k${choice % 4}`;
      const verb = !this.rows.has(key) ? 'ADD' : choice % 3 === 0 ? 'DELETE' : 'UPDATE';
      values = [key, verb, verb === 'DELETE' ? null : `q${step}`];
      if (verb === 'DELETE') this.rows.delete(key);
      else this.rows.set(key, values);
    } else if (this.mode === 'MERGE') {
      values = choice % 2 ? [String(step), this.merged[1]] : [this.merged[0], String(step)];
      this.merged = values;
    } else {
      values = [String(step), choice % 2 ? 'x' : null];
      this.history.push(values);
    }
    return this.#line(values);
  }

  /** A new upstream's snapshot of the item: lines and, for DISTINCT and COMMAND, their EOS. */
  snapshot(historyLength: number): string[] {
    this.#lastSent = null;
    if (this.mode === 'MERGE') return [this.#line(this.merged)];
    if (this.mode === 'COMMAND') return [...[...this.rows.values()].map((r) => this.#line([r[0], 'ADD', r[2]])), n.eos(1, 1)];
    return [...this.history.slice(-historyLength).map((v) => this.#line(v)), n.eos(1, 1)];
  }

  #line(values: Values): string {
    const previous = this.#lastSent;
    this.#lastSent = values;
    return n.update(1, 1, encodeUpdateValues(previous === null ? values : values.map((v, i) => (v === previous[i] ? undefined : v))));
  }
}

const MODES: readonly Mode[] = ['MERGE', 'COMMAND', 'DISTINCT'];

function subscribe(mode: Mode, upstreamId: number): string[] {
  const fields = mode === 'COMMAND' ? 3 : 2;
  return [mode === 'COMMAND' ? n.subcmd(upstreamId, 1, fields, 1, 2) : n.subok(upstreamId, 1, fields)];
}

describe('a subscription moved to a new upstream', () => {
  it.each(MODES)('%s: the client ends up with the feed, with nothing repeated and no second SUBOK or EOS', (mode) => {
    fc.assert(
      fc.property(fc.array(fc.nat(11), { maxLength: 30 }), fc.array(fc.nat(11), { maxLength: 8 }), fc.array(fc.nat(11), { maxLength: 10 }), (before, during, after) => {
        const client = new ClientModel(mode);
        const table = new SubscriptionTable({ emit: (line) => client.read(line) });
        const source = new Source(mode);
        const feed = (line: string, upstreamId: number) => table.onUpstreamLine(parseServerLine(line.replace(/\r\n$/, '').replace(/^([A-Z]+),1,/, `$1,${upstreamId},`)));
        const sub = table.add({ clientId: 7, mode, params: new Map([['LS_mode', mode]]), snapshot: true })!;
        table.issue(sub, false);
        for (const line of subscribe(mode, 1)) feed(line, 1);
        for (const line of source.snapshot(1000)) feed(line, 1);
        let step = 0;
        for (const choice of before) feed(source.event(++step, choice), 1);

        // The upstream goes; the feed goes on meanwhile; a new upstream takes the subscription again.
        const again = table.upstreamLost();
        expect(again.map((s) => s.clientId)).toEqual([7]);
        for (const choice of during) source.event(++step, choice);
        const issued = table.issue(sub, false);
        expect(issued).toMatch(/^LS_op=add&LS_subId=2&.*LS_snapshot=true/);
        for (const line of subscribe(mode, 2)) feed(line, 2);
        for (const line of source.snapshot(100)) feed(line, 2);
        for (const choice of after) feed(source.event(++step, choice), 2);

        expect(client.tags.filter((t) => t === 'SUBOK' || t === 'SUBCMD')).toHaveLength(1);
        expect(client.tags.filter((t) => t === 'EOS').length).toBeLessThanOrEqual(1);
        if (mode === 'MERGE') expect(client.last.get(1)).toEqual(source.merged);
        if (mode === 'COMMAND') expect(new Map([...client.rows].map(([k, v]) => [k, v[2]]))).toEqual(new Map([...source.rows].map(([k, v]) => [k, v[2]])));
        if (mode === 'DISTINCT') expect(client.events).toEqual(source.history);
      }),
      { numRuns: 400 },
    );
  });

  it('MERGE: only the fields that differ reach the client, as an ordinary update, or nothing at all', () => {
    const lines: string[] = [];
    const table = new SubscriptionTable({ emit: (line) => lines.push(line) });
    const sub = table.add({ clientId: 3, mode: 'MERGE', params: new Map(), snapshot: true })!;
    table.issue(sub, false);
    for (const line of [n.subok(1, 1, 3), n.update(1, 1, 'a|b|c')]) table.onUpstreamLine(parseServerLine(line.trim()));
    table.upstreamLost();
    table.issue(sub, false);
    for (const line of [n.subok(2, 1, 3), n.update(2, 1, 'a|B|c')]) table.onUpstreamLine(parseServerLine(line.trim()));
    expect(lines).toEqual([n.subok(3, 1, 3), n.update(3, 1, 'a|b|c'), n.update(3, 1, '|B|')]);
    table.upstreamLost();
    table.issue(sub, false);
    for (const line of [n.subok(3, 1, 3), n.update(3, 1, 'a|B|c')]) table.onUpstreamLine(parseServerLine(line.trim()));
    expect(lines).toHaveLength(3);
  });

  it('DISTINCT with feed positions: every event once, identical ones included, and OV for those older than the new history', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(1), { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(1), { maxLength: 20 }),
        fc.array(fc.nat(1), { maxLength: 5 }),
        fc.integer({ min: 1, max: 15 }),
        (before, during, after, historyLength) => {
          const client = new ClientModel('DISTINCT');
          const lost: number[] = [];
          const table = new SubscriptionTable({
            emit: (line) => {
              if (line.startsWith('OV,')) lost.push(Number(line.trim().split(',')[3]));
              else client.read(line);
            },
          });
          const sub = table.add({ clientId: 7, mode: 'DISTINCT', params: new Map([['LS_mode', 'DISTINCT'], ['LS_schema', 'v w']]), snapshot: false })!;
          expect(table.issue(sub, true)).toContain(`LS_schema=${encodeURIComponent('v w edgepush.position')}`);
          const feed = (line: string) => table.onUpstreamLine(parseServerLine(line.replace(/\r\n$/, '')));
          // Events mostly alike: their content cannot say which of them the client has.
          const history: { values: Values; line: (upstreamId: number) => string }[] = [];
          const event = (choice: number) => {
            const values: Values = [choice ? 'same' : 'other', 'x'];
            const position = `E:${history.length + 1}`;
            const entry = { values, line: (upstreamId: number) => n.update(upstreamId, 1, encodeUpdateValues([...values, position])) };
            history.push(entry);
            return entry;
          };
          feed(n.subok(1, 1, 3));
          for (const choice of before) feed(event(choice).line(1));
          table.upstreamLost();
          for (const choice of during) event(choice);
          table.issue(sub, true);
          feed(n.subok(2, 1, 3));
          for (const entry of history.slice(-historyLength)) feed(entry.line(2));
          feed(n.eos(2, 1));
          for (const choice of after) feed(event(choice).line(2));

          expect(client.tags.filter((t) => t === 'SUBOK')).toHaveLength(1);
          const missed = Math.max(0, during.length - historyLength);
          expect(lost).toEqual(missed > 0 ? [missed] : []);
          const expected = [...history.slice(0, before.length), ...history.slice(before.length + missed)].map((e) => e.values);
          expect(client.events).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });
});
