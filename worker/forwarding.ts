/**
 * Header hygiene between client and origin. Clients may not speak for the edge: whatever forwarding
 * or edge headers they send are dropped, and the edge states the client address itself together with
 * the secret the origin checks before believing it. Only what an origin can use goes on: not the
 * edge's own sticky cookie, not a cookie larger than any browser keeps, and never more header bytes
 * than an origin accepts — an oversized request is the edge's to refuse (431), not the shard's.
 */

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length'];
const CLIENT_MAY_NOT_SEND = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'true-client-ip', 'x-edge-secret', 'x-client-ip'];
/** Browsers keep no cookie larger than this (RFC 6265 §6.1 asks for at least 4096 bytes per cookie). */
const MAX_COOKIE_BYTES = 4096;
/**
 * Client header bytes the edge forwards at most. Node's default limit for a whole request head is
 * 16 KiB (and Lightstreamer Server's is smaller): this leaves room for the request line and the
 * headers the edge adds.
 */
export const MAX_FORWARDED_HEADER_BYTES = 12 * 1024;

export interface ClientFacts {
  /** The address the platform saw (CF-Connecting-IP); never a header the client chose. */
  readonly ip: string | null;
  readonly protocol: 'http' | 'https';
  /** The Host the client used (with port): forwarded, and the base of control links the edge writes. */
  readonly host: string;
}

export function clientFactsOf(request: Request, url: URL): ClientFacts {
  return { ip: request.headers.get('cf-connecting-ip'), protocol: url.protocol === 'https:' ? 'https' : 'http', host: url.host };
}

/** The Cookie header without the edge's own cookie and without oversized cookies; null when nothing is left. */
function cookiesToForward(header: string, edgeCookie: string | undefined): string | null {
  const kept = header
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c.length > 0 && c.length <= MAX_COOKIE_BYTES && (edgeCookie === undefined || !c.startsWith(`${edgeCookie}=`)));
  return kept.length ? kept.join('; ') : null;
}

/** The client's headers an origin may see, before the edge adds its own. */
export function clientHeadersToForward(incoming: Headers, edgeCookie: string | undefined): Headers {
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.includes(name) || CLIENT_MAY_NOT_SEND.includes(name) || name.startsWith('cf-')) continue;
    if (name === 'cookie') {
      const cookies = cookiesToForward(value, edgeCookie);
      if (cookies !== null) out.append(name, cookies);
      continue;
    }
    out.append(name, value);
  }
  return out;
}

/** Bytes of a header block as it goes on the wire (`name: value\r\n`). */
export function headerBytes(headers: Headers): number {
  let bytes = 0;
  for (const [name, value] of headers) bytes += name.length + value.length + 4;
  return bytes;
}

/** `edgeCookie`: the domain's sticky cookie name, which only the edge reads. */
export function originHeaders(incoming: Headers, client: ClientFacts, edgeSecret: string | undefined, edgeCookie?: string): Headers {
  const out = clientHeadersToForward(incoming, edgeCookie);
  // Streams must reach the client byte for byte as written: no compression anywhere on the way.
  out.delete('accept-encoding');
  if (client.ip) {
    out.set('cf-connecting-ip', client.ip);
    out.set('x-forwarded-for', client.ip);
  }
  out.set('x-forwarded-proto', client.protocol);
  out.set('x-forwarded-host', client.host);
  if (edgeSecret) out.set('x-edge-secret', edgeSecret);
  return out;
}

/** Response headers for the client: the origin's, minus framing the runtime recomputes. */
export function clientHeaders(fromOrigin: Headers): Headers {
  const out = new Headers(fromOrigin);
  for (const h of ['connection', 'keep-alive', 'transfer-encoding', 'content-length']) out.delete(h);
  return out;
}
