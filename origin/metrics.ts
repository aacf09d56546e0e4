import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RemoteStats } from './adapters/remote/remote-stats.ts';
import { TRANSPORTS, type Telemetry } from './telemetry.ts';

export interface MetricsOptions {
  readonly telemetry: Telemetry;
  /** Added as a label to every series, so one Prometheus job can scrape every shard. */
  readonly shard: string;
  /** Whether the bus (embedded or Redis) is connected right now. */
  readonly busConnected?: () => boolean;
  /** The remote adapters of ADAPTERS_CONF, one series each (label `adapter`: set or set/provider). */
  readonly remoteAdapters?: readonly RemoteStats[];
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
export function createMetrics({ telemetry: t, shard, busConnected, remoteAdapters = [] }: MetricsOptions): OriginMetrics {
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
  counter('edgepush_adapter_updates_total', 'Updates of on-demand data adapters (remote ones included) this shard published.', () => t.adapterUpdates);
  counter('edgepush_adapter_updates_lost_total', 'Of those, updates the bus could not take (Redis away).', () => t.adapterUpdatesLost);

  // Per remote adapter: one series per adapters.xml proxy, labelled with its set (and data provider).
  const perRemote = (kind: 'gauge' | 'counter', name: string, help: string, read: (s: RemoteStats) => number) => {
    const Metric = kind === 'gauge' ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ['adapter', 'kind'],
      registers: [registry],
      collect() {
        if (kind === 'counter') this.reset();
        for (const s of remoteAdapters) {
          const labels = { adapter: s.adapter, kind: s.kind };
          if (this instanceof Gauge) this.set(labels, read(s));
          else (this as Counter).inc(labels, read(s));
        }
      },
    });
  };
  if (remoteAdapters.length > 0) {
    perRemote('gauge', 'edgepush_remote_adapter_connected', '1 while the remote adapter is connected and initialised.', (s) => (s.connected ? 1 : 0));
    perRemote('gauge', 'edgepush_remote_adapter_pending_requests', 'Requests waiting for the remote adapter\'s reply.', (s) => s.pendingRequests);
    perRemote('counter', 'edgepush_remote_adapter_connections_total', 'Remote adapters that connected and initialised.', (s) => s.connections);
    perRemote('counter', 'edgepush_remote_adapter_refused_connections_total', 'Connections refused: credentials, a second remote, the whitelist, a failed initialisation.', (s) => s.refusedConnections);
    perRemote('counter', 'edgepush_remote_adapter_requests_total', 'Requests sent to the remote adapter.', (s) => s.requests);
    perRemote('counter', 'edgepush_remote_adapter_request_failures_total', 'Requests the remote adapter answered with an exception.', (s) => s.requestFailures);
    perRemote('counter', 'edgepush_remote_adapter_request_timeouts_total', 'Requests the remote adapter did not answer in time.', (s) => s.requestTimeouts);
    perRemote('counter', 'edgepush_remote_adapter_updates_total', 'Updates (UD3) received from the remote data adapter.', (s) => s.updates);
    perRemote('counter', 'edgepush_remote_adapter_protocol_errors_total', 'Lines from the remote adapter that were no valid packet or answered no request.', (s) => s.protocolErrors);
    perRemote('counter', 'edgepush_remote_adapter_failures_total', 'Failures the remote adapter reported (FAL).', (s) => s.remoteFailures);
  }

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
