import type { EdgeRequest } from './edge-request.ts';
import { mintStickyCookie, readStickyCookie, setCookieHeader } from './sticky-cookie.ts';
import { clientKeyOf } from './client-key.ts';
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

/** FNV-1a: a stable spread of client keys over a domain's stick tables, the same in every isolate. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The one StickTable object of the domain that holds `clientKey`. */
function stickTableOf(er: EdgeRequest, clientKey: string) {
  const table = hashOf(clientKey) % er.domain.stickTables;
  return er.env.STICK_TABLE.get(er.env.STICK_TABLE.idFromName(`${er.domain.host}#${table}`));
}

function liveCachedStick(cacheKey: string): Stick | null {
  const cached = ipSticks.get(cacheKey);
  return cached && cached.expiresAt > Date.now() ? cached : null;
}

/** A request without a usable client address has no association and costs no Durable Object call. */
export async function ipShard(er: EdgeRequest): Promise<string | null> {
  const client = clientKeyOf(er.client.ip);
  if (!client) return null;
  const cacheKey = `${er.domain.host}|${client}`;
  const cached = liveCachedStick(cacheKey);
  if (cached) return cached.shard;
  const stick = await stickTableOf(er, client).lookup(client);
  if (stick) remember(ipSticks, STICK_CACHE_LIMIT, cacheKey, stick);
  return stick?.shard ?? null;
}

/** Associates the client with `proposed` unless it already has a usable association. */
export async function stickIp(er: EdgeRequest, proposed: string, usable: string[]): Promise<string> {
  const client = clientKeyOf(er.client.ip);
  if (!client) return proposed;
  const cacheKey = `${er.domain.host}|${client}`;
  // A live association with a usable shard is what the table would answer: its expiry never moves.
  const cached = liveCachedStick(cacheKey);
  if (cached && usable.includes(cached.shard)) return cached.shard;
  const stick = await stickTableOf(er, client).stick(client, proposed, usable, er.domain.stickySeconds * 1000, er.domain.stickTableRows);
  remember(ipSticks, STICK_CACHE_LIMIT, cacheKey, stick);
  return stick.shard;
}
