/**
 * An origin's per-item hub keeps the same DISTINCT history as the bus it watches, whatever size
 * the bus was configured with.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createBus } from '../origin/bus/create-bus.ts';
import { ItemHubs } from '../origin/subscriptions/item-hub.ts';
import { Telemetry } from '../origin/telemetry.ts';

describe('item hub', () => {
  it.each([5, 150])('keeps the bus history size (%i events)', async (historySize) => {
    const bus = createBus({ historySize });
    const hubs = new ItemHubs(bus, new Telemetry(), pino({ level: 'silent' }));
    for (let n = 1; n <= 160; n++) await bus.publish('h', { n: String(n) });
    const [hub] = await hubs.acquireAll(['h'], 5_000);
    expect(hub.state.snapshot().history.map((e) => e.fields.n)).toEqual(Array.from({ length: historySize }, (_, i) => String(161 - historySize + i)));
    for (let n = 161; n <= 170; n++) await bus.publish('h', { n: String(n) });
    expect(hub.state.snapshot().history).toHaveLength(historySize);
    expect(hub.state.snapshot().history.at(-1)?.fields.n).toBe('170');
    hubs.release(hub);
    await bus.close();
  });
});
