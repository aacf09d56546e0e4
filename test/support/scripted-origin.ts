import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.ts';

export interface ReceivedRequest {
  readonly endpoint: string;
  readonly query: string;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface ScriptedOrigin {
  readonly shard: string;
  readonly url: string;
  /** Every TLCP request that reached this origin, in order. */
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

const ENDPOINT = /\/lightstreamer\/(create_session|bind_session|control|msg|heartbeat)\.txt$/;

/**
 * A TLCP origin reduced to what routing sees, for tests of the edge's decisions: it opens sessions
 * (ids naming the shard, or opaque), answers binds and control lines for the sessions it holds and
 * "session not found" for others, announces `controlLink`, and records every request it gets.
 * Where a request went is then a fact, not an inference from a client's behaviour.
 */
export async function startScriptedOrigin(shard: string, options: { opaqueIds?: boolean; controlLink?: string } = {}): Promise<ScriptedOrigin> {
  const sessions = new Set<string>();
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?');
    if (path === '/lightstreamer/healthcheck') return void res.end('OK\r\n');
    if (path === '/api/status') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ shard, sessions: sessions.size }));
    const endpoint = ENDPOINT.exec(path)?.[1];
    if (!endpoint) return void res.writeHead(404).end('not found\n');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ endpoint, query, body, headers: req.headers });
      const lines = body.split('\r\n').filter(Boolean);
      const sessionOf = (text: string) => new URLSearchParams(text).get('LS_session');
      res.setHeader('content-type', 'text/enriched; charset=UTF-8');
      if (endpoint === 'create_session') {
        const id = options.opaqueIds ? `S${randomBytes(16).toString('hex')}` : `${shard}.${randomBytes(24).toString('base64url')}`;
        sessions.add(id);
        return void res.end(`CONOK,${id},50000,5000,${options.controlLink ?? '*'}\r\nSERVNAME,edgepush ${shard}\r\nLOOP,0\r\n`);
      }
      if (endpoint === 'bind_session') {
        const id = sessionOf(query) ?? sessionOf(lines[0] ?? '');
        return void res.end(id && sessions.has(id) ? `CONOK,${id},50000,5000,${options.controlLink ?? '*'}\r\nLOOP,0\r\n` : 'CONERR,20,session not found\r\n');
      }
      const known = sessions.has(sessionOf(query) ?? '');
      res.end(lines.map((l) => (known ? `REQOK,${new URLSearchParams(l).get('LS_reqId')}\r\n` : `REQERR,${new URLSearchParams(l).get('LS_reqId')},20,session not found\r\n`)).join(''));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    shard,
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
