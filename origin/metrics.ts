import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { TRANSPORTS, type Telemetry } from './telemetry.ts';

export interface MetricsOptions {
  readonly telemetry: Telemetry;
  /** Added as a label to every series, so one Prometheus job can scrape every shard. */
  readonly shard: string;
  /** Whether the bus (embedded or Redis) is connected right now. */
  readonly busConnected?: () => boolean;
}

export interface OriginMetrics {
  /** Serves `GET /metrics`; returns false for any other request so the caller can route it. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * Prometheus exposition of the origin's telemetry plus the default Node process metrics (CPU, heap,
 * GC, event-loop lag). Values are read from the plain Telemetry numbers at scrape time, so the hot
 * paths never pay for label lookups.
 */
export function createMetrics({ telemetry: t, shard, busConnected }: MetricsOptions): OriginMetrics {
  // A registry per origin instead of the global one: tests start several origins in one process.
  const registry = new Registry();
  registry.setDefaultLabels({ shard });
  collectDefaultMetrics({ register: registry });

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  // Telemetry keeps monotonic totals; Counter has no setter, so each scrape replaces the value.
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  gauge('edgepush_sessions', 'Sessions held by this origin, bound or not.', () => t.sessions);
  new Gauge({
    name: 'edgepush_sessions_bound',
    help: 'Sessions currently bound to a stream, by transport.',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const transport of TRANSPORTS) this.set({ transport }, t.boundByTransport[transport]);
    },
  });
  gauge('edgepush_subscriptions', 'Active subscriptions across all sessions.', () => t.subscriptions);
  gauge('edgepush_items', 'Items with at least one subscription on this origin.', () => t.items);
  gauge('edgepush_slow_consumers', 'Sessions whose outgoing buffer is above the slow-consumer threshold.', () => t.slowConsumers);
  gauge('edgepush_queued_bytes', 'Bytes of updates held for sessions that cannot take them now.', () => t.queuedBytes);
  if (busConnected) gauge('edgepush_bus_connected', '1 while the bus is connected, 0 otherwise.', () => (busConnected() ? 1 : 0));

  counter('edgepush_sessions_created_total', 'Sessions created since start.', () => t.sessionsCreated);
  counter('edgepush_item_events_total', 'Item events received from the bus.', () => t.itemEvents);
  counter('edgepush_notifications_sent_total', 'Data notifications written to clients.', () => t.notificationsSent);
  counter('edgepush_bytes_sent_total', 'Bytes of TLCP written to clients.', () => t.bytesSent);
  counter('edgepush_updates_conflated_total', 'Updates dropped by conflation or a full buffer for a client that could not keep up.', () => t.updatesConflated);
  counter('edgepush_wrong_instance_total', 'Requests naming a session of another shard (misrouted upstream).', () => t.wrongInstance);
  counter('edgepush_messages_received_total', 'Client messages received.', () => t.messagesReceived);

  return {
    handle(req, res) {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== '/metrics') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return true;
      }
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
        },
      );
      return true;
    },
  };
}
