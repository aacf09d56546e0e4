import type { OriginHandle } from './origin.ts';
import { publish } from './origin.ts';

export interface Feed {
  /** The last value published. */
  readonly tick: number;
  /** Whether `values` (what a client received, in order) ends with a recent value: the client is live. */
  isLive(values: readonly string[]): boolean;
  stop(): void;
}

/**
 * A steady feed on one item of every origin: a counter, published every `everyMs`. Tests tell a live
 * client from a stalled one by whether its last value is recent, through any disruption. `origins`
 * is read at each tick, so a restarted origin is fed too.
 */
export function startFeed(origins: () => Iterable<OriginHandle>, token: string, item = 'feed', everyMs = 100): Feed {
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    for (const o of origins()) publish(o.url, token, { item, fields: { v: String(tick) } }).catch(() => undefined);
  }, everyMs);
  return {
    get tick() {
      return tick;
    },
    // Twenty ticks of slack: two seconds at the default pace.
    isLive: (values) => Number(values.at(-1) ?? -1) >= tick - 20,
    stop: () => clearInterval(timer),
  };
}
