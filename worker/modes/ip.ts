import type { EdgeRequest } from '../edge-request.ts';
import { clientKeyOf } from '../client-key.ts';
import { remember } from '../bounded-cache.ts';
import type { Stick } from '../../objects/stick-table.ts';
import type { RoutingMode } from './mode.ts';

/**
 * Mode `ip` (guide 1.A.1, 2.A.1): a load balancer's source-IP stick table. A client (its IPv4
 * address, or its IPv6 /64: client-key.ts) is associated with the shard of its first session for
 * `stickySeconds` — never extended (guide §4) — and its requests follow the association. The table
 * lives in StickTable objects spread over `stickTables` per domain; lookups are cached in the isolate
 * until the association expires, and a request without a valid address costs no object call.
 */
export const ip: RoutingMode = {
  name: 'ip',
  source: 'object',
  settle: (er, proposed, usable) => stickIp(er, proposed, usable),
  home: async (er) => (await ipShard(er)) ?? undefined,
};

const ipSticks = new Map<string, Stick>();
const STICK_CACHE_LIMIT = 50_000;

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

async function ipShard(er: EdgeRequest): Promise<string | null> {
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
async function stickIp(er: EdgeRequest, proposed: string, usable: readonly string[]): Promise<string> {
  const client = clientKeyOf(er.client.ip);
  if (!client) return proposed;
  const cacheKey = `${er.domain.host}|${client}`;
  // A live association with a usable shard is what the table would answer: its expiry never moves.
  const cached = liveCachedStick(cacheKey);
  if (cached && usable.includes(cached.shard)) return cached.shard;
  const stick = await stickTableOf(er, client).stick(client, proposed, [...usable], er.domain.stickySeconds * 1000, er.domain.stickTableRows);
  remember(ipSticks, STICK_CACHE_LIMIT, cacheKey, stick);
  return stick.shard;
}
