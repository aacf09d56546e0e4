import type { EdgeRequest } from '../edge-request.ts';
import { mintStickyCookie, readStickyCookie, setCookieHeader } from '../sticky-cookie.ts';
import type { RoutingMode } from './mode.ts';

/**
 * Mode `cookie` (guide 1.A.2, 2.A.2): the edge's "sticky cookie-insert". A new session's response
 * sets a signed cookie naming its shard; the client sends it with every later request (cookie
 * handling required) and the edge follows it. A cookie that does not verify counts as none. On a
 * WebSocket the cookie must be in the 101, before the first frame says what the socket is for: its
 * placement is settled at the upgrade.
 */
export const cookie: RoutingMode = {
  name: 'cookie',
  source: 'request',
  placesSocketsAtUpgrade: true,
  async claim(er, req, usable) {
    const shard = await cookieShard(er, req.cookieHeader);
    return shard && usable.includes(shard) ? shard : undefined;
  },
  home: async (er, req) => (await cookieShard(er, req.cookieHeader)) ?? undefined,
  setCookie: (er, shard, claimedByThisMode) => (claimedByThisMode ? Promise.resolve(null) : stickyCookieFor(er, shard)),
};

function cookieValue(cookieHeader: string | undefined, name: string): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

async function cookieShard(er: EdgeRequest, cookieHeader: string | undefined): Promise<string | null> {
  const value = cookieValue(cookieHeader, er.domain.cookieName);
  if (!value || !er.env.COOKIE_SECRET) return null;
  return (await readStickyCookie(er.env.COOKIE_SECRET, er.domain.host, value))?.shard ?? null;
}

async function stickyCookieFor(er: EdgeRequest, shard: string): Promise<string | null> {
  if (!er.env.COOKIE_SECRET) return null;
  const expiresAt = Date.now() + er.domain.stickySeconds * 1000;
  const value = await mintStickyCookie(er.env.COOKIE_SECRET, er.domain.host, shard, expiresAt);
  return setCookieHeader(er.domain.cookieName, value, expiresAt, er.client.protocol === 'https');
}
