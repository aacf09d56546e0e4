import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { BusStatus } from '../bus/bus.ts';
import { type RecentError, type Telemetry, type TransportName } from '../telemetry.ts';

/** What the dashboard needs from the origin besides telemetry; `/api/status`'s object satisfies it. */
export interface DashboardStatus {
  readonly shard: string;
  readonly serverName: string;
  readonly draining: boolean;
  readonly bus: BusStatus;
}

export interface DashboardOptions {
  readonly telemetry: Telemetry;
  readonly status: () => DashboardStatus;
}

/** One point of every chart: rates are per second over the preceding sampling period. */
export interface DashboardSample {
  readonly at: number;
  readonly sessions: number;
  readonly bound: Record<TransportName, number>;
  readonly subscriptions: number;
  readonly items: number;
  readonly eventsPerSecond: number;
  readonly updatesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly conflatedPerSecond: number;
  readonly slowConsumers: number;
  readonly eventLoopP50Ms: number;
  readonly eventLoopP99Ms: number;
  readonly eventLoopMaxMs: number;
  readonly cpuPercent: number;
  readonly heapUsedBytes: number;
  readonly rssBytes: number;
}

export interface DashboardData extends DashboardStatus {
  readonly now: number;
  readonly startedAt: number;
  readonly uptimeSeconds: number;
  readonly sampleMs: number;
  readonly process: { readonly pid: number; readonly node: string };
  readonly totals: {
    readonly sessionsCreated: number;
    readonly itemEvents: number;
    readonly notificationsSent: number;
    readonly bytesSent: number;
    readonly updatesConflated: number;
    readonly wrongInstance: number;
    readonly messagesReceived: number;
  };
  /** Oldest first; the last one is the current state. */
  readonly samples: readonly DashboardSample[];
  /** Newest first. */
  readonly errors: readonly RecentError[];
}

export interface Dashboard {
  /** Serves `GET /dashboard` and `GET /dashboard/data`; false for anything else. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Stops sampling; call on shutdown. */
  close(): void;
}

const SAMPLE_MS = 1_000;
const HISTORY_SECONDS = 300;
const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

/**
 * The per-instance monitoring dashboard (guide §6). The origin samples its own figures on a timer so
 * that rates are computed once, on the server, with history available the moment a page opens — any
 * number of viewers see the same curves and none of them perturbs the others' windows.
 */
export function createDashboard({ telemetry: t, status }: DashboardOptions): Dashboard {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const capacity = Math.ceil((HISTORY_SECONDS * 1_000) / SAMPLE_MS);
  const samples: DashboardSample[] = [];
  let last = { at: Date.now(), events: t.itemEvents, sent: t.notificationsSent, bytes: t.bytesSent, conflated: t.updatesConflated, cpu: process.cpuUsage() };

  const sample = () => {
    const at = Date.now();
    const seconds = Math.max((at - last.at) / 1_000, 1e-3);
    const cpu = process.cpuUsage(last.cpu);
    const memory = process.memoryUsage();
    // The histogram is empty until the loop has been measured once; report 0 rather than NaN.
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    samples.push({
      at,
      sessions: t.sessions,
      bound: { ...t.boundByTransport },
      subscriptions: t.subscriptions,
      items: t.items,
      eventsPerSecond: (t.itemEvents - last.events) / seconds,
      updatesPerSecond: (t.notificationsSent - last.sent) / seconds,
      bytesPerSecond: (t.bytesSent - last.bytes) / seconds,
      conflatedPerSecond: (t.updatesConflated - last.conflated) / seconds,
      slowConsumers: t.slowConsumers,
      eventLoopP50Ms: ms(loop.percentile(50)),
      eventLoopP99Ms: ms(loop.percentile(99)),
      eventLoopMaxMs: ms(loop.max),
      cpuPercent: ((cpu.user + cpu.system) / 1_000 / (seconds * 1_000)) * 100,
      heapUsedBytes: memory.heapUsed,
      rssBytes: memory.rss,
    });
    if (samples.length > capacity) samples.shift();
    loop.reset();
    last = { at, events: t.itemEvents, sent: t.notificationsSent, bytes: t.bytesSent, conflated: t.updatesConflated, cpu: process.cpuUsage() };
  };
  const timer = setInterval(sample, SAMPLE_MS);
  timer.unref();

  const data = (): DashboardData => {
    const now = Date.now();
    return {
      ...status(),
      now,
      startedAt: t.startedAt,
      uptimeSeconds: Math.round((now - t.startedAt) / 1_000),
      sampleMs: SAMPLE_MS,
      process: { pid: process.pid, node: process.version },
      totals: {
        sessionsCreated: t.sessionsCreated,
        itemEvents: t.itemEvents,
        notificationsSent: t.notificationsSent,
        bytesSent: t.bytesSent,
        updatesConflated: t.updatesConflated,
        wrongInstance: t.wrongInstance,
        messagesReceived: t.messagesReceived,
      },
      samples,
      errors: t.recentErrors.slice().reverse(),
    };
  };

  return {
    close() {
      clearInterval(timer);
      loop.disable();
    },
    handle(req, res) {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== '/dashboard' && path !== '/dashboard/' && path !== '/dashboard/data') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return true;
      }
      const [type, body] =
        path === '/dashboard/data'
          ? ['application/json; charset=utf-8', JSON.stringify(data())]
          : ['text/html; charset=utf-8', PAGE];
      res.writeHead(200, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}
