/**
 * The baseline the origin is measured against: plain `ws` and `node:http` doing the least a push
 * server can do. It accepts the origin's publish body, builds each update's `U` line once, frames it
 * once and writes the same buffer to every socket; it holds HTTP streaming responses open after a
 * first chunk. No sessions, no subscriptions, no recovery log, no congestion handling.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT);
const sockets = new Set<Socket>();
const responses = new Set<http.ServerResponse>();
/** Item name to its 1-based position in the clients' subscription, as the origin numbers them. */
const itemIndex = new Map((process.env.RAW_ITEMS ?? '').split(' ').filter(Boolean).map((item, i) => [item, i + 1]));

const server = http.createServer((req, res) => {
  if (req.url === '/lightstreamer/healthcheck') {
    res.end('OK\r\n');
  } else if (req.method === 'POST' && req.url === '/api/publish') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { item: string; fields: Record<string, string> } | { item: string; fields: Record<string, string> }[];
      const updates = Array.isArray(parsed) ? parsed : [parsed];
      for (const u of updates) broadcast(`U,1,${itemIndex.get(u.item) ?? 1},${Object.values(u.fields).join('|')}\r\n`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ published: updates.length }));
    });
  } else if (req.method === 'POST' && req.url?.startsWith('/stream')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/enriched; charset=UTF-8', 'cache-control': 'no-store' });
    res.write('CONOK,raw\r\n');
    responses.add(res);
    res.once('close', () => responses.delete(res));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.on('connection', (socket) => socket.setNoDelay(true));

const wss = new WebSocketServer({ server, perMessageDeflate: false, handleProtocols: (protocols) => protocols.values().next().value ?? false });
wss.on('connection', (ws: WebSocket, req) => {
  const socket = req.socket;
  sockets.add(socket);
  ws.on('close', () => sockets.delete(socket));
  ws.on('error', () => sockets.delete(socket));
});

function broadcast(line: string): void {
  const frame = textFrame(Buffer.from(line));
  for (const socket of sockets) socket.write(frame);
}

/** An unmasked, final text frame (RFC 6455 §5.2), as a server sends it. */
function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 0xff]) : null;
  if (!header) throw new Error('update lines are short');
  return Buffer.concat([header, payload]);
}

server.listen(port, '127.0.0.1');
// A normal exit, so a `--cpu-prof` run writes its profile.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
