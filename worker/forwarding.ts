/**
 * Header hygiene between client and origin. Clients may not speak for the edge: whatever forwarding
 * or edge headers they send are dropped, and the edge states the client address itself together with
 * the secret the origin checks before believing it.
 */

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length'];
const CLIENT_MAY_NOT_SEND = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'true-client-ip', 'x-edge-secret', 'x-client-ip'];

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

export function originHeaders(incoming: Headers, client: ClientFacts, edgeSecret: string | undefined): Headers {
  const out = new Headers();
  for (const [name, value] of incoming) {
    if (HOP_BY_HOP.includes(name) || CLIENT_MAY_NOT_SEND.includes(name) || name.startsWith('cf-')) continue;
    out.append(name, value);
  }
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
