import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import { EmbeddedBus } from './embedded.ts';
import { RedisBus } from './redis.ts';

export interface BusOptions {
  /** Unset: the embedded single-process bus. */
  readonly redisUrl?: string;
  /** Events kept per item for DISTINCT snapshots and gap repair (default 100). */
  readonly historySize?: number;
  readonly logger?: Logger;
}

export const DEFAULT_HISTORY_SIZE = 100;

export function createBus(options: BusOptions = {}): Bus {
  const historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
  if (options.redisUrl) return new RedisBus({ url: options.redisUrl, historySize, logger: options.logger });
  return new EmbeddedBus({ historySize, logger: options.logger });
}
