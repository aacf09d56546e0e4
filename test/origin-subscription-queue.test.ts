/**
 * What a subscription holds for a session that cannot take updates now: queues bounded by the
 * session's byte budget (with the losses announced by OV), and clears that replace what was held.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../origin/bus/embedded.ts';
import { ItemHubs, schemaOf } from '../origin/subscriptions/item-hub.ts';
import { MAX_BUFFER, Subscription, type SubscriptionOutput, type SubscriptionSpec } from '../origin/subscriptions/subscription.ts';
import { Telemetry } from '../origin/telemetry.ts';

class Output implements SubscriptionOutput {
  open = true;
  readonly lines: string[] = [];
  queuedBytes = 0;
  lost = 0;
  constructor(readonly maxBytes: number) {}
  accepting = () => this.open;
  emit = (line: string) => void this.lines.push(line);
  hold = () => {};
  conflated = (count: number) => void (this.lost += count);
  queued = (bytes: number) => void (this.queuedBytes += bytes);
  queueRoom = () => this.maxBytes - this.queuedBytes;
}

async function subscribed(mode: SubscriptionSpec['mode'], items: string[], fields: string[], out: Output) {
  const bus = new EmbeddedBus({ historySize: 10 });
  const hubs = new ItemHubs(bus, new Telemetry(), pino({ level: 'silent' }));
  const spec: SubscriptionSpec = { id: 1, mode, schema: schemaOf(fields), snapshot: false, maxFrequency: null, frequencyCap: null, unfiltered: false, bufferSize: MAX_BUFFER, deltas: null };
  const sub = new Subscription(spec, out);
  sub.start(await hubs.acquireAll(items, 5_000));
  out.lines.length = 0;
  return { bus, sub };
}

describe('held updates', () => {
  it('are bounded in bytes per session, oldest lost first, and the loss is announced with OV', async () => {
    const out = new Output(64 * 1024);
    const { bus, sub } = await subscribed('RAW', ['big'], ['n', 'pad'], out);
    out.open = false;
    const pad = 'x'.repeat(10_000);
    for (let n = 1; n <= 100; n++) await bus.publish('big', { n: String(n), pad });
    expect(out.queuedBytes).toBeGreaterThan(0);
    expect(out.queuedBytes).toBeLessThanOrEqual(64 * 1024);
    // Six 10 kB lines fit in 64 kB: the last six updates are kept, the 94 before them are lost.
    expect(out.lost).toBe(94);
    out.open = true;
    expect(sub.release({ chars: Infinity })).toBe(true);
    expect(out.lines[0]).toBe('OV,1,1,94\r\n');
    expect(out.lines.slice(1).map((l) => l.split(',')[3].split('|')[0])).toEqual(['95', '96', '97', '98', '99', '100']);
    expect(out.queuedBytes).toBe(0);
  });

  it('lose the new line when other items hold the budget, and give their bytes back when stopped', async () => {
    const out = new Output(64 * 1024);
    const { bus, sub } = await subscribed('RAW', ['a', 'b'], ['v'], out);
    out.open = false;
    for (let i = 0; i < 10; i++) await bus.publish('a', { v: 'a'.repeat(10_000) });
    await bus.publish('b', { v: 'b'.repeat(10_000) });
    expect(out.lost).toBe(5);
    out.open = true;
    sub.release({ chars: Infinity });
    expect(out.lines.filter((l) => l.startsWith('OV,'))).toEqual(['OV,1,1,4\r\n', 'OV,1,2,1\r\n']);
    out.open = false;
    await bus.publish('a', { v: 'again' });
    expect(out.queuedBytes).toBeGreaterThan(0);
    sub.stop();
    expect(out.queuedBytes).toBe(0);
  });

  it('are replaced by CS when the item is cleared meanwhile', async () => {
    const out = new Output(64 * 1024);
    const { bus, sub } = await subscribed('COMMAND', ['rows'], ['key', 'command', 'qty'], out);
    out.open = false;
    await bus.publish('rows', { key: 'k1', command: 'ADD', qty: '1' });
    await bus.publish('rows', { key: 'k2', command: 'ADD', qty: '2' });
    await bus.clear('rows');
    expect(out.queuedBytes).toBe(0);
    await bus.publish('rows', { key: 'k3', command: 'ADD', qty: '3' });
    out.open = true;
    sub.release({ chars: Infinity });
    expect(out.lines).toEqual(['CS,1,1\r\n', 'U,1,1,k3|ADD|3\r\n']);
    expect(out.queuedBytes).toBe(0);
  });
});
