import http from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from './ports.ts';

export interface StallingOrigin {
  readonly url: string;
  /** TLCP requests and socket upgrades that arrived, none of which was ever answered. */
  readonly stalled: () => number;
  close(): Promise<void>;
}

/**
 * An origin whose health probes pass while its TLCP requests and WebSocket upgrades are never
 * answered: the half-broken shard (a stuck adapter, a wedged event handler) that only timeouts
 * reveal. It reports no sessions, so a balancer that trusts load figures alone would favour it.
 */
export async function startStallingOrigin(shard: string): Promise<StallingOrigin> {
  let stalled = 0;
  const held = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === '/lightstreamer/healthcheck') return void res.end('OK\r\n');
    if (req.url === '/api/status') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ shard, sessions: 0 }));
    stalled++;
    held.add(req.socket);
  });
  server.on('upgrade', (_req, socket: Socket) => {
    stalled++;
    held.add(socket);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    stalled: () => stalled,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of held) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
