/**
 * The origin's listening sockets, as the guide's `<http_server>` / `<https_server>` blocks: each
 * HTTP or HTTPS on its own interface and port, HTTPS with one certificate per server name (SNI),
 * any of them behind a layer-4 balancer speaking the PROXY protocol. Every listener feeds the same
 * handlers, with the routes it serves (a public CR listener: TLCP only).
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { HttpsListenerConfig, ListenerConfig, Route } from '../config.ts';
import { requireProxyProtocol } from './proxy-protocol.ts';

export interface ListenerHandlers {
  /** `routes`: what the listener the request came through serves. */
  onRequest(req: http.IncomingMessage, res: http.ServerResponse, routes: ReadonlySet<Route>): void;
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, routes: ReadonlySet<Route>): void;
  /** A connection closed before HTTP: bad or late PROXY header, failed TLS handshake. For logs. */
  onRefused?(listener: string, reason: string): void;
  /** A listening socket failed after start, e.g. out of file descriptors on accept. For logs. */
  onServerError?(listener: string, error: Error): void;
}

export interface BoundListener {
  readonly name: string;
  readonly protocol: 'http' | 'https';
  readonly host: string;
  /** The port actually bound (the configured one, or the kernel's pick for port 0). */
  readonly port: number;
  readonly proxyProtocol: boolean;
}

export interface RunningListeners {
  readonly addresses: readonly BoundListener[];
  /**
   * Stops accepting and drops every connection still open, streams and WebSockets included:
   * end sessions gracefully before calling it.
   */
  close(): Promise<void>;
}

/**
 * Slowloris bounds. TLCP requests are small and complete at once; streams are long *responses*,
 * which these timeouts do not cover.
 */
const HTTP_OPTIONS: http.ServerOptions = {
  headersTimeout: 15_000,
  requestTimeout: 30_000,
  // Push latency matters more than packet count; batching is the session's job (WRITE_DELAY_MS).
  noDelay: true,
};

/**
 * What Node's HTTP parser refuses gets its status with a reason, as every other refusal does; Node
 * alone would answer a bare status line. The reason is the status line's own reason phrase: nothing
 * says whether the request was a HEAD, whose answer may carry no body. Only on a connection that has
 * had no answer yet: after one (a 413 that closes the connection while the body still arrives), a
 * second would be garbage.
 */
function answerParseError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET' || (socket as net.Socket).bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, `Request head larger than ${http.maxHeaderSize} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request not complete in time']
        : [400, `Not an HTTP request this server understands (${err.code ?? 'parse error'})`];
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

/** Node's default of two minutes lets a silent client hold a socket and a TLS context for nothing. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Binds every listener, or none: if one fails, those already bound are closed again. */
export async function startListeners(
  listeners: readonly ListenerConfig[],
  handlers: ListenerHandlers,
): Promise<RunningListeners> {
  const started: Started[] = [];
  try {
    for (const config of listeners) started.push(await start(config, handlers));
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  return {
    addresses: started.map((s) => s.address),
    close: async () => {
      await Promise.all(started.map((s) => s.close()));
    },
  };
}

interface Started {
  readonly address: BoundListener;
  close(): Promise<void>;
}

async function start(config: ListenerConfig, handlers: ListenerHandlers): Promise<Started> {
  const server = config.protocol === 'https' ? createHttpsServer(config) : http.createServer(HTTP_OPTIONS);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => handlers.onRequest(req, res, config.routes));
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => handlers.onUpgrade(req, socket, head, config.routes));
  server.on('clientError', answerParseError);
  if (config.protocol === 'https') {
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      socket.destroy();
      handlers.onRefused?.(config.name, `TLS: ${err.message}`);
    });
  }
  if (config.proxyProtocol) {
    requireProxyProtocol(server, (_socket, reason) => handlers.onRefused?.(config.name, `PROXY protocol: ${reason}`));
  }
  // Tracked from the first byte (before any PROXY header) so close() leaves nothing behind.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new Error(`listener ${JSON.stringify(config.name)} cannot listen on ${config.host}:${config.port}: ${err.message}`));
    server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: Error) => handlers.onServerError?.(config.name, err));

  const { port } = server.address() as net.AddressInfo;
  return {
    address: { name: config.name, protocol: config.protocol, host: config.host, port, proxyProtocol: config.proxyProtocol },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/**
 * The default context (the certificate without a server name, else the first) answers clients
 * that send no SNI or an unknown name; named ones are matched by Node, wildcards included.
 */
function createHttpsServer(config: HttpsListenerConfig): https.Server {
  const pem = config.certificates.map((c) => ({ ...c, certPem: fs.readFileSync(c.cert), keyPem: fs.readFileSync(c.key) }));
  const fallback = pem.find((c) => c.serverName === undefined) ?? pem[0];
  const server = https.createServer({
    ...HTTP_OPTIONS,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    cert: fallback.certPem,
    key: fallback.keyPem,
  });
  for (const c of pem) {
    if (c.serverName !== undefined) server.addContext(c.serverName, { cert: c.certPem, key: c.keyPem });
  }
  return server;
}
