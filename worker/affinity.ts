import type { EdgeRequest } from './edge-request.ts';
import { mintStickyCookie, readStickyCookie, setCookieHeader } from './sticky-cookie.ts';
import type { Stick } from '../objects/stick-table.ts';

/**
 * The client-keyed ways to remember where a session lives: the signed cookie (state on the client)
 * and the source-IP stick table (state in a Durable Object, cached in the isolate for as long as the
 * answer cannot change, so a client costs at most one DO read per isolate). Session pins, keyed by
 * session, are in session-pins.ts.
 */

const ipSticks = new Map<string, Stick>();
const STICK_CACHE_LIMIT = 50_000;

export function remember<V>(cache: Map<string, V>, limit: number, key: string, value: V): void {
  // Insertion order makes the oldest entry the first: a cheap bound without an LRU.
  if (cache.size >= limit) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}

function cookieValue(cookieHeader: string | undefined, name: string): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export async function cookieShard(er: EdgeRequest, cookieHeader: string | undefined): Promise<string | null> {
  const value = cookieValue(cookieHeader, er.domain.cookieName);
  if (!value || !er.env.COOKIE_SECRET) return null;
  return (await readStickyCookie(er.env.COOKIE_SECRET, er.domain.host, value))?.shard ?? null;
}

export async function stickyCookieFor(er: EdgeRequest, shard: string): Promise<string | null> {
  if (!er.env.COOKIE_SECRET) return null;
  const expiresAt = Date.now() + er.domain.stickySeconds * 1000;
  const value = await mintStickyCookie(er.env.COOKIE_SECRET, er.domain.host, shard, expiresAt);
  return setCookieHeader(er.domain.cookieName, value, expiresAt, er.client.protocol === 'https');
}

function stickTable(er: EdgeRequest) {
  return er.env.STICK_TABLE.get(er.env.STICK_TABLE.idFromName(er.domain.host));
}

export async function ipShard(er: EdgeRequest): Promise<string | null> {
  if (!er.client.ip) return null;
  const key = `${er.domain.host}|${er.client.ip}`;
  const cached = ipSticks.get(key);
  if (cached && cached.expiresAt > Date.now()) return cached.shard;
  const stick = await stickTable(er).lookup(er.client.ip);
  if (stick) remember(ipSticks, STICK_CACHE_LIMIT, key, stick);
  return stick?.shard ?? null;
}

/** Associates the client address with `proposed` unless it already has a usable association. */
export async function stickIp(er: EdgeRequest, proposed: string, usable: string[]): Promise<string> {
  if (!er.client.ip) return proposed;
  const stick = await stickTable(er).stick(er.client.ip, proposed, usable, er.domain.stickySeconds * 1000);
  remember(ipSticks, STICK_CACHE_LIMIT, `${er.domain.host}|${er.client.ip}`, stick);
  return stick.shard;
}
