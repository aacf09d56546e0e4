/**
 * Live figures of one origin. The hot paths bump plain numbers here (no label lookups, no
 * allocation); the status endpoint, the Prometheus exporter and the dashboard read them on demand.
 */
export const TRANSPORTS = ['WS-STREAMING', 'HTTP-STREAMING', 'WS-POLLING', 'HTTP-POLLING'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export interface RecentError {
  readonly at: number;
  readonly code: number | string;
  readonly message: string;
}

const RECENT_ERRORS = 50;

export class Telemetry {
  readonly startedAt = Date.now();
  /** Sessions currently bound to a stream, by transport; unbound sessions are `sessions - Σ`. */
  readonly boundByTransport: Record<TransportName, number> = {
    'WS-STREAMING': 0,
    'HTTP-STREAMING': 0,
    'WS-POLLING': 0,
    'HTTP-POLLING': 0,
  };
  sessions = 0;
  sessionsCreated = 0;
  subscriptions = 0;
  /** Items with at least one subscription on this origin. */
  items = 0;
  /** Item events received from the bus. */
  itemEvents = 0;
  /** Data notifications (U, EOS, CS, OV…) written to clients. */
  notificationsSent = 0;
  bytesSent = 0;
  /** Updates dropped by MERGE conflation or a full buffer because a client could not keep up. */
  updatesConflated = 0;
  /** Sessions whose outgoing buffer is above the slow-consumer threshold right now. */
  slowConsumers = 0;
  /** Bytes of updates queued for sessions that cannot take them now (bounded per session). */
  queuedBytes = 0;
  /** Requests naming a session of another shard: each one is a routing mistake upstream. */
  wrongInstance = 0;
  messagesReceived = 0;
  /** Updates on-demand data adapters sent (published into the bus by this shard). */
  adapterUpdates = 0;
  /** Of those, updates the bus could not take (Redis away). */
  adapterUpdatesLost = 0;
  readonly recentErrors: RecentError[] = [];

  error(code: number | string, message: string): void {
    if (this.recentErrors.length === RECENT_ERRORS) this.recentErrors.shift();
    this.recentErrors.push({ at: Date.now(), code, message });
  }
}
