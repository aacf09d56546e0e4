/**
 * The origin assembled: bus, adapters, sessions, and the HTTP/WebSocket routing every listener
 * feeds. `main.ts` adds configuration, listeners and signals around it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { EndCode } from '../protocol/codes.ts';
import type { AdapterSet } from './adapters/adapter.ts';
import type { SessionControl } from './adapters/remote/remote-metadata-adapter.ts';
import type { RemoteStats } from './adapters/remote/remote-stats.ts';
import { createApi } from './api.ts';
import type { Bus } from './bus/bus.ts';
import type { OriginConfig, Route } from './config.ts';
import { createDashboard } from './dashboard/dashboard.ts';
import { clientAddress } from './listeners/client-address.ts';
import type { ListenerHandlers } from './listeners/listeners.ts';
import { createMetrics } from './metrics.ts';
import { SessionRegistry } from './session/registry.ts';
import { drainSessions, type DrainOptions } from './session/drain.ts';
import { ItemHubs } from './subscriptions/item-hub.ts';
import { Telemetry } from './telemetry.ts';
import { handleTlcpHttp, type HttpRequestContext } from './transports/http-requests.ts';
import { requestHeaders } from './transports/request-headers.ts';
import { MAX_FRAME_BYTES, WS_SUBPROTOCOL, WsConnection } from './transports/websocket.ts';
import { handleDemo } from './web/demo.ts';

// Any prefix: a control link may carry a path (`host/pfx` → `/pfx/lightstreamer/...`).
const TLCP_REQUEST = /\/lightstreamer\/([A-Za-z_]+)\.txt$/;
const TLCP_SOCKET = /(^|\/)lightstreamer$/;
const HEALTHCHECK = /(^|\/)lightstreamer\/healthcheck$/;

export interface Origin {
  readonly handlers: ListenerHandlers;
  /** Refuses new sessions and moves the ones held to other shards (session/drain.ts); resolves once none is left. */
  drain(options: DrainOptions): Promise<void>;
  /** What a metadata adapter may do to the origin's sessions (a remote one's FST and FUS). */
  readonly sessions: SessionControl;
  /** Ends every session (END 48, so clients move at once) and stops timers; listeners are the caller's. */
  close(): void;
}

export function createOrigin(config: OriginConfig, bus: Bus, adapterSets: readonly AdapterSet[], logger: Logger, remoteAdapters: readonly RemoteStats[] = []): Origin {
  const telemetry = new Telemetry();
  const hubs = new ItemHubs(bus, telemetry, logger);
  const registry = new SessionRegistry({
    shardId: config.shardId,
    sessionIdStyle: config.sessionIdStyle,
    maxSessionDurationMs: config.maxSessionDurationMs,
    maxSessions: config.maxSessions,
    telemetry,
    logger,
  });
  const ctx: HttpRequestContext = {
    registry,
    adapterSets: new Map(adapterSets.map((set) => [set.name, set])),
    defaultAdapterSet: adapterSets[0].name,
    keepaliveMs: config.keepaliveMs,
    telemetry,
    logger,
    services: (adapterSet) => ({
      serverName: config.serverName,
      controlLink: config.controlLink,
      writeDelayMs: config.writeDelayMs,
      maxQueuedBytes: config.maxQueuedBytesPerSession,
      maxSubscriptions: config.maxSubscriptionsPerSession,
      maxItemsPerSubscription: config.maxItemsPerSubscription,
      maxItems: config.maxItemsPerSession,
      telemetry,
      logger,
      hubs,
      adapterSet,
    }),
    clientAddress: (req) => clientAddress(req, { edgeSecret: config.edgeSecret }),
  };
  const api = createApi({
    shard: config.shardId,
    serverName: config.serverName,
    publishToken: config.publishToken,
    adminToken: config.adminToken,
    telemetry,
    registry,
    bus,
  });
  const metrics = createMetrics({ telemetry, shard: config.shardId, busConnected: () => bus.status().connected, remoteAdapters });
  const dashboard = createDashboard({ telemetry, status: api.status });
  const wss = new WebSocketServer({
    noServer: true,
    // The official clients disable it, and websocket.ts writes shared pre-built frames straight to
    // the sockets, which only works for uncompressed frames.
    perMessageDeflate: false,
    maxPayload: MAX_FRAME_BYTES,
    handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });

  const fail = (err: unknown, res: ServerResponse) => {
    logger.error({ err }, 'request failed');
    telemetry.error('http', err instanceof Error ? err.message : String(err));
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
    else res.destroy();
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse, routes: ReadonlySet<Route>): void => {
    try {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (HEALTHCHECK.test(path)) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('OK\r\n');
        return;
      }
      const tlcp = TLCP_REQUEST.exec(path);
      if (tlcp && routes.has('tlcp')) {
        handleTlcpHttp(tlcp[1], req, res, ctx).catch((err: unknown) => fail(err, res));
        return;
      }
      const served =
        (routes.has('api') && api.handle(path, req, res)) ||
        (routes.has('metrics') && metrics.handle(req, res)) ||
        (routes.has('dashboard') && dashboard.handle(req, res)) ||
        (routes.has('demo') && handleDemo(req, res));
      if (served) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    } catch (err) {
      fail(err, res);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, routes: ReadonlySet<Route>): void => {
    socket.on('error', (err) => logger.debug({ err }, 'upgrade socket error'));
    const path = (req.url ?? '/').split('?', 1)[0];
    if (!routes.has('tlcp')) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nnot found\n');
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!TLCP_SOCKET.test(path) || !offered.includes(WS_SUBPROTOCOL)) {
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nnot a TLCP WebSocket (path ${path.slice(0, 80)}, subprotocol ${WS_SUBPROTOCOL} required)\n`);
      return;
    }
    const address = ctx.clientAddress(req);
    const headers = requestHeaders(req);
    wss.handleUpgrade(req, socket, head, (ws) => new WsConnection(ws, socket, address, headers, ctx, logger));
  };

  return {
    sessions: {
      endSession(sessionId, code, message) {
        const found = registry.lookup(sessionId);
        if (!found.found) return false;
        found.session.end(code, message);
        return true;
      },
      endSubscription(sessionId, subscriptionId) {
        const found = registry.lookup(sessionId);
        return found.found && found.session.deleteSubscription(subscriptionId);
      },
    },
    handlers: {
      onRequest,
      onUpgrade,
      onRefused: (listener, reason) => logger.debug({ listener, reason }, 'connection refused'),
      onServerError: (listener, err) => logger.error({ err, listener }, 'listener error'),
    },
    drain: (options) => drainSessions(registry, options, logger),
    close() {
      registry.endAll(EndCode.MAX_DURATION, 'server shutting down');
      registry.close();
      api.close();
      dashboard.close();
      wss.close();
    },
  };
}
