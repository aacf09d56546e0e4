/**
 * The address of the client behind a request, as announced in CLIENTIP and given to the metadata
 * adapter. The client re-enables every transport whenever CLIENTIP changes, so it must be stable
 * for one client and must never be something a client can choose for itself.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { proxiedSource } from './proxy-protocol.ts';

export interface ClientAddressTrust {
  /** The edge's shared secret; null = no request is trusted to name its client. */
  readonly edgeSecret: string | null;
}

/**
 * In order: the edge's `CF-Connecting-IP`, then the first `X-Forwarded-For` entry, both only when
 * `X-Edge-Secret` proves the request came through the edge; the PROXY protocol source of the
 * connection; the socket peer. IPv4-mapped IPv6 addresses are reported as plain IPv4.
 */
export function clientAddress(req: IncomingMessage, trust: ClientAddressTrust): string {
  if (trust.edgeSecret !== null && secretMatches(req.headers['x-edge-secret'], trust.edgeSecret)) {
    const chain = req.headers['x-forwarded-for'];
    const forwarded = ipOrNull(req.headers['cf-connecting-ip']) ?? ipOrNull(typeof chain === 'string' ? chain.split(',')[0] : undefined);
    if (forwarded) return forwarded;
  }
  return normalise(proxiedSource(req.socket)?.address ?? req.socket.remoteAddress ?? '');
}

// Hashing first gives equal-length inputs, so the comparison's time says nothing about the secret,
// not even its length.
function secretMatches(presented: string | string[] | undefined, secret: string): boolean {
  if (typeof presented !== 'string') return false;
  return timingSafeEqual(sha256(presented), sha256(secret));
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

// A trusted header is still checked: the address goes into a comma-separated protocol line.
function ipOrNull(value: string | string[] | undefined): string | null {
  if (typeof value !== 'string') return null;
  const candidate = value.trim();
  return net.isIP(candidate) ? normalise(candidate) : null;
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
