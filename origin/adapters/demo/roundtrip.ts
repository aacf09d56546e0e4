/**
 * `ROUNDTRIP_ADAPTER`, as Lightstreamer's Round-Trip demo expects it: items roundtrip0…roundtrip4 in
 * MERGE with fields `message`, `date` (yyyy.MM.dd), `timestamp` (HH:mm:ss, both UTC) and `IP`; the
 * client message `RT|<n>|<text>` puts `text` on item `roundtrip<n>`, so a page sees its own message
 * come back through the server. Before any message an item holds `-` in every field, as the demo's
 * adapter starts them. Messages go through the bus: one sent to any shard reaches every shard.
 */
import type { Bus } from '../../bus/bus.ts';
import { AdapterError } from '../adapter.ts';
import type { MessageRoute } from './catalogue-metadata.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const ROUNDTRIP_ITEMS: readonly string[] = [0, 1, 2, 3, 4].map((n) => `roundtrip${n}`);
export const ROUNDTRIP_FIELDS = ['message', 'date', 'timestamp', 'IP'] as const;
export const ROUNDTRIP_PREFIX = 'RT|';
/** The demo's adapter refuses longer texts. */
export const MAX_ROUNDTRIP_MESSAGE = 500;

/** Message refusals (the client's onDeny). */
export const ROUNDTRIP_MALFORMED = -1;
export const ROUNDTRIP_TOO_LONG = -2;
export const ROUNDTRIP_NOT_STARTED = -3;

export interface RoundTrip {
  readonly adapter: DemoDataAdapter;
  readonly messages: MessageRoute;
}

export function createRoundTrip(): RoundTrip {
  let bus: Bus | null = null;
  const adapter: DemoDataAdapter = {
    name: 'ROUNDTRIP_ADAPTER',
    hasItem: (item) => ROUNDTRIP_ITEMS.includes(item),
    fieldsOf: () => ROUNDTRIP_FIELDS,
    allowsMode: (_item, mode) => mode === 'MERGE',
    start(b) {
      bus = b;
      // Only an item that never had an event is seeded: `publishIf` on seq 0 makes one shard win.
      for (const item of ROUNDTRIP_ITEMS) b.publishIf(item, 0, { message: '-', date: '-', timestamp: '-', IP: '-' }).catch(() => {});
    },
    stop() {
      bus = null;
    },
  };

  const messages: MessageRoute = {
    prefix: ROUNDTRIP_PREFIX,
    async handle({ message, clientIp }) {
      const rest = message.slice(ROUNDTRIP_PREFIX.length);
      const bar = rest.indexOf('|');
      const item = `roundtrip${rest.slice(0, bar)}`;
      const text = rest.slice(bar + 1);
      if (bar < 0 || !ROUNDTRIP_ITEMS.includes(item) || text.length === 0) {
        throw new AdapterError(ROUNDTRIP_MALFORMED, 'expected RT|<0-4>|<text>');
      }
      if (text.length > MAX_ROUNDTRIP_MESSAGE) throw new AdapterError(ROUNDTRIP_TOO_LONG, `message longer than ${MAX_ROUNDTRIP_MESSAGE} characters`);
      if (!bus) throw new AdapterError(ROUNDTRIP_NOT_STARTED, 'round trip not started');
      const now = new Date().toISOString();
      await bus.publish(item, { message: text, date: now.slice(0, 10).replaceAll('-', '.'), timestamp: now.slice(11, 19), IP: clientIp });
      return '';
    },
  };

  return { adapter, messages };
}
