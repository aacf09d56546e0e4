/**
 * PROXY protocol v1 and v2 (haproxy.org/download/2.9/doc/proxy-protocol.txt) for listeners behind
 * layer-4 balancers: the balancer opens each TCP connection with a header naming the real client,
 * which is all the origin has to fill CLIENTIP with, since a TCP balancer cannot add HTTP headers.
 *
 * A listener flagged for it requires the header on every connection: anyone who can reach it could
 * otherwise claim any address. A connection whose header is malformed, oversized or late is closed
 * before HTTP or TLS sees a byte of it.
 */
import net from 'node:net';

export interface ProxiedAddress {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string }
  /**
   * `source` is null when the header carries no usable client: v1 `UNKNOWN`, v2 `LOCAL` (the
   * balancer's own health checks) or v2 non-IP families. The socket peer then stands for the client.
   */
  | { readonly status: 'complete'; readonly length: number; readonly source: ProxiedAddress | null };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's bound: "PROXY UNKNOWN" plus two IPv6 addresses and ports plus CRLF. */
const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_LENGTH = 16;
/** Addresses plus room for the TLVs balancers actually send (AWS, GCP, Azure ids); more is abuse. */
const V2_MAX_PAYLOAD = 1024;
/** Long enough for any balancer on a slow link, short enough that idle connections do not pile up. */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

const PORT = /^(0|[1-9]\d{0,4})$/;

/** Parses the header at the start of `data`, telling whether more bytes are needed. */
export function parseProxyHeader(data: Buffer): ProxyHeader {
  if (startsLike(data, V2_SIGNATURE)) return data.length < V2_SIGNATURE.length ? incomplete : parseV2(data);
  if (startsLike(data, V1_PREFIX)) return data.length < V1_PREFIX.length ? incomplete : parseV1(data);
  return { status: 'invalid', reason: 'no PROXY protocol signature' };
}

const incomplete: ProxyHeader = { status: 'incomplete' };

function startsLike(data: Buffer, signature: Buffer): boolean {
  const n = Math.min(data.length, signature.length);
  return n > 0 && data.subarray(0, n).equals(signature.subarray(0, n));
}

function parseV1(data: Buffer): ProxyHeader {
  const end = data.subarray(0, V1_MAX_LENGTH).indexOf('\r\n');
  if (end < 0) {
    return data.length >= V1_MAX_LENGTH ? { status: 'invalid', reason: 'v1 header longer than 107 bytes' } : incomplete;
  }
  const length = end + 2;
  const fields = data.toString('latin1', 0, end).split(' ');
  if (fields[1] === 'UNKNOWN') return { status: 'complete', length, source: null };
  if (fields.length !== 6) return { status: 'invalid', reason: 'v1 header without 6 fields' };
  const [, family, source, , sourcePort, destinationPort] = fields;
  const isFamily = family === 'TCP4' ? net.isIPv4 : family === 'TCP6' ? net.isIPv6 : null;
  if (!isFamily) return { status: 'invalid', reason: `v1 unknown protocol ${JSON.stringify(family)}` };
  if (!isFamily(source) || !isFamily(fields[3])) return { status: 'invalid', reason: 'v1 bad address' };
  if (!isPort(sourcePort) || !isPort(destinationPort)) return { status: 'invalid', reason: 'v1 bad port' };
  return {
    status: 'complete',
    length,
    source: { address: family === 'TCP6' ? canonicalIPv6(source) : source, port: Number(sourcePort) },
  };
}

function isPort(s: string): boolean {
  return PORT.test(s) && Number(s) <= 65535;
}

function parseV2(data: Buffer): ProxyHeader {
  if (data.length < V2_FIXED_LENGTH) return incomplete;
  const versionCommand = data[12];
  const family = data[13];
  const payload = data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { status: 'invalid', reason: 'v2 bad version' };
  const command = versionCommand & 0x0f;
  if (command > 1) return { status: 'invalid', reason: 'v2 unknown command' };
  if (payload > V2_MAX_PAYLOAD) return { status: 'invalid', reason: `v2 header of ${payload} bytes is too long` };
  const length = V2_FIXED_LENGTH + payload;
  if (data.length < length) return incomplete;
  // LOCAL: the balancer speaking for itself; whatever addresses follow are to be ignored.
  if (command === 0) return { status: 'complete', length, source: null };
  const addresses = data.subarray(V2_FIXED_LENGTH, length);
  switch (family >> 4) {
    case 0x1: // AF_INET: src(4) dst(4) sport(2) dport(2)
      if (addresses.length < 12) return { status: 'invalid', reason: 'v2 IPv4 addresses truncated' };
      return { status: 'complete', length, source: { address: addresses.subarray(0, 4).join('.'), port: addresses.readUInt16BE(8) } };
    case 0x2: // AF_INET6: src(16) dst(16) sport(2) dport(2)
      if (addresses.length < 36) return { status: 'invalid', reason: 'v2 IPv6 addresses truncated' };
      return { status: 'complete', length, source: { address: ipv6FromBytes(addresses.subarray(0, 16)), port: addresses.readUInt16BE(32) } };
    case 0x0: // AF_UNSPEC
    case 0x3: // AF_UNIX
      return { status: 'complete', length, source: null };
    default:
      return { status: 'invalid', reason: 'v2 unknown address family' };
  }
}

function ipv6FromBytes(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return canonicalIPv6(groups.join(':'));
}

/**
 * RFC 5952 form, with IPv4-mapped addresses dotted as sockets report them, so one client has one
 * spelling whichever way it came.
 */
function canonicalIPv6(address: string): string {
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

// The HTTP layer sees a TLSSocket on HTTPS listeners, not the TCP socket that carried the header;
// both report the same four-tuple, which is unique among open connections, so it is the key.
const sources = new Map<string, { readonly socket: net.Socket; readonly source: ProxiedAddress }>();

function tupleOf(socket: net.Socket): string {
  return `${socket.localAddress}|${socket.localPort}|${socket.remoteAddress}|${socket.remotePort}`;
}

/** The client named by the PROXY header of the connection `socket` rides on, if it named one. */
export function proxiedSource(socket: net.Socket): ProxiedAddress | undefined {
  return sources.get(tupleOf(socket))?.source;
}

/**
 * Makes `server` (net, http, https or tls) read a PROXY header off every connection before its own
 * connection handling runs. Call it after the server is created and before any other `connection`
 * listener is added: listeners present now run after the header, listeners added later before it.
 */
export function requireProxyProtocol(server: net.Server, onRefused?: (socket: net.Socket, reason: string) => void): void {
  const downstream = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    let received: Buffer = Buffer.alloc(0);
    const refuse = (reason: string) => {
      stop();
      socket.destroy();
      onRefused?.(socket, reason);
    };
    const timer = setTimeout(() => refuse('no PROXY header in time'), PROXY_HEADER_TIMEOUT_MS);
    const onError = (err: Error) => refuse(err.message);
    // HTTP servers allow half-open sockets: a hang-up is 'end' without 'close', a reset 'close' alone.
    const onClose = () => refuse('closed before the PROXY header');
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const header = parseProxyHeader(received);
      if (header.status === 'incomplete') return;
      if (header.status === 'invalid') return refuse(header.reason);
      stop();
      // Paused, so that what followed the header waits in the stream for the HTTP parser or the
      // TLS layer, which both take over data already buffered in the socket.
      socket.pause();
      if (header.source) remember(socket, header.source);
      if (received.length > header.length) socket.unshift(received.subarray(header.length));
      for (const listener of downstream) listener.call(server, socket);
      // HTTP reads through 'data' events and needs the socket flowing again. TLS takes the
      // buffered bytes over itself, and resuming with nobody listening would drop them.
      if (socket.listenerCount('data') > 0) socket.resume();
    };
    const stop = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onClose);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onClose);
    socket.on('close', onClose);
  });
}

function remember(socket: net.Socket, source: ProxiedAddress): void {
  const key = tupleOf(socket);
  const entry = { socket, source };
  sources.set(key, entry);
  socket.once('close', () => {
    if (sources.get(key) === entry) sources.delete(key);
  });
}
