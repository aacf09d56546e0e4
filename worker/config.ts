import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { isValidShardId } from '../protocol/session-id.ts';

/**
 * Edge configuration, from wrangler vars (SHARDS, DOMAINS as JSON, the registry's timing) and
 * secrets. Parsed once per isolate per distinct raw value: vars never change during an isolate's
 * life, so the hot path pays nothing for validation.
 */

/** How a domain keeps a session's control and rebind (CR) requests on the shard that created it. */
const MODES = ['host', 'path', 'session-id', 'cookie', 'ip', 'pin', 'partial', 'session'] as const;
export type Mode = (typeof MODES)[number];

const shardId = z.string().refine(isValidShardId, 'shard ids are 1–32 chars of [A-Za-z0-9_-]');

const ShardSchema = z.object({
  id: shardId,
  /** Where the origin's HTTP listener answers (S and CR both go there through the edge). */
  url: z.url({ protocol: /^https?$/ }),
  weight: z.number().min(0).default(1),
});

const DomainSchema = z
  .object({
    /**
     * The balancing hostname clients are configured with. `*.example.com` matches its subdomains (a
     * wildcard certificate's reach); `*` matches any host no other entry claims.
     */
    host: z.string().min(1).transform((h) => h.toLowerCase()),
    modes: z.array(z.enum(MODES)).min(1),
    /** Shards this domain balances over; all configured shards when absent. */
    shards: z.array(shardId).optional(),
    /** Mode `host`: one public hostname per shard (guide 1.B.1, 2.B.*). */
    shardHosts: z.record(z.string().transform((h) => h.toLowerCase()), shardId).default({}),
    /** Mode `path`: CR requests arrive on `/<pathPrefix>/<shard>/lightstreamer/...`. */
    pathPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default('s'),
    /**
     * Who writes CONOK's control link. `edge`: the edge rewrites it to this domain's public per-shard
     * address (host or path mode), so origins need no public configuration and one origin can serve
     * several domains (multihosting). `origin`: the origin's CONTROL_LINK passes through untouched
     * (partial mode, where it names the shard's own public address).
     */
    controlLink: z.enum(['edge', 'origin']).default('edge'),
    /** Stickiness lifetime for `cookie` and `ip` (guide §4); the association is never extended. */
    stickySeconds: z.number().int().positive().default(3600),
    /**
     * Mode `ip`: how many StickTable objects hold the domain's associations, by a hash of the client
     * key, so new clients do not queue on one object. Changing it re-homes every association.
     */
    stickTables: z.number().int().min(1).max(1024).default(32),
    /** Mode `ip`: associations one StickTable object holds at most; beyond it the soonest to expire go. */
    stickTableRows: z.number().int().min(1).default(50_000),
    cookieName: z.string().regex(/^[A-Za-z0-9_-]+$/).default('edgepush_sticky'),
    /** Mode `pin`: how long a learned session→shard pin lives. */
    pinSeconds: z.number().int().positive().default(86_400),
    /**
     * Per-client create rate limit (worker/create-rate-limit.ts): sessions one address (IPv6: one
     * /64) may create per minute, sustained, and how many at once; creates beyond the burst wait
     * their turn briefly, and only those that would wait too long are refused. 0 = off.
     */
    createsPerMinute: z.number().min(0).default(120),
    createBurst: z.number().int().min(1).default(60),
    /** Per-domain maximum stream duration (guide §5); 0 = off. */
    maxSessionMinutes: z.number().min(0).default(0),
    /** ± fraction applied to maxSessionMinutes per stream so a cohort does not reconnect at once. */
    maxSessionJitter: z.number().min(0).max(0.5).default(0.1),
    /**
     * Mode `session`: client sessions one Durable Object hosts. An object holding an upstream socket
     * never hibernates and is billed for its whole life, so sessions share objects; 1 gives each its own.
     */
    sessionsPerObject: z.number().int().min(1).max(1_000).default(100),
  })
  .superRefine((d, ctx) => {
    if (d.modes.includes('host') && Object.keys(d.shardHosts).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['shardHosts'], message: 'mode "host" needs shardHosts' });
    }
    if (d.modes.includes('partial') && d.controlLink !== 'origin') {
      ctx.addIssue({ code: 'custom', path: ['controlLink'], message: 'mode "partial" needs controlLink "origin": the origin names its public address' });
    }
    if (d.modes.includes('session') && d.modes.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['modes'], message: 'mode "session" terminates sessions at the edge: it combines with no other mode' });
    }
  });

/** Numbers from plain vars: wrangler passes them as strings, or as numbers from a TOML table. */
const TimingSchema = z.object({
  /** Registry probe period; tests shorten it so failover is observable in seconds. */
  PROBE_INTERVAL_MS: z.coerce.number().int().min(100).default(2_000),
  /** How long an isolate trusts its copy of the registry snapshot. */
  SNAPSHOT_TTL_MS: z.coerce.number().int().min(0).default(1_000),
  /** Sessions per shard per probe tick that drain/shed ask an origin to end. */
  MOVE_RATE: z.coerce.number().int().positive().default(10),
});

type ShardConfig = z.infer<typeof ShardSchema>;
export type DomainConfig = z.infer<typeof DomainSchema> & { shards: string[] };

export interface Timing {
  readonly probeIntervalMs: number;
  readonly snapshotTtlMs: number;
  readonly moveRate: number;
}

export interface EdgeConfig {
  readonly shards: ReadonlyMap<string, ShardConfig>;
  readonly domains: readonly DomainConfig[];
  /** hostname → [domain, shard] for mode `host`. */
  readonly shardHosts: ReadonlyMap<string, readonly [DomainConfig, string]>;
  readonly timing: Timing;
}

/** The vars the configuration is made of, as wrangler hands them over. */
export interface RawConfig {
  readonly SHARDS: unknown;
  readonly DOMAINS: unknown;
  readonly PROBE_INTERVAL_MS?: unknown;
  readonly SNAPSHOT_TTL_MS?: unknown;
  readonly MOVE_RATE?: unknown;
  readonly COOKIE_SECRET?: string;
  readonly ADMIN_SECRET?: string;
  readonly EDGE_SECRET?: string;
  readonly ORIGIN_ADMIN_TOKEN?: string;
  readonly SESSION_SECRET?: string;
}

/** A bad deployment answers every request with what is wrong with it, never an anonymous 500. */
export class ConfigError extends HTTPException {
  constructor(message: string) {
    super(500, { message, res: new Response(`edge configuration error: ${message}\n`, { status: 500, headers: { 'content-type': 'text/plain; charset=UTF-8' } }) });
  }
}

function parseJson(name: string, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw; // wrangler.toml [vars] tables arrive already parsed
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

function describe(name: string, error: z.ZodError): string {
  return error.issues
    .map((i) => `${name}${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
    .join('; ');
}

function parseTiming(raw: Omit<RawConfig, 'SHARDS' | 'DOMAINS'>): Timing {
  const timing = TimingSchema.safeParse(raw);
  if (!timing.success) throw new ConfigError(timing.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; '));
  return { probeIntervalMs: timing.data.PROBE_INTERVAL_MS, snapshotTtlMs: timing.data.SNAPSHOT_TTL_MS, moveRate: timing.data.MOVE_RATE };
}

export function parseConfig(rawShards: unknown, rawDomains: unknown, rawTiming: Omit<RawConfig, 'SHARDS' | 'DOMAINS'> = {}): EdgeConfig {
  const timing = parseTiming(rawTiming);
  const shardList = z.array(ShardSchema).min(1).safeParse(parseJson('SHARDS', rawShards));
  if (!shardList.success) throw new ConfigError(describe('SHARDS', shardList.error));
  const domainList = z.array(DomainSchema).min(1).safeParse(parseJson('DOMAINS', rawDomains));
  if (!domainList.success) throw new ConfigError(describe('DOMAINS', domainList.error));

  const shards = new Map<string, ShardConfig>();
  shardList.data.forEach((s, i) => {
    if (shards.has(s.id)) throw new ConfigError(`SHARDS[${i}].id: duplicate shard "${s.id}"`);
    shards.set(s.id, s);
  });

  const seenHosts = new Set<string>();
  const shardHosts = new Map<string, readonly [DomainConfig, string]>();
  const domains = domainList.data.map((d, i): DomainConfig => {
    if (seenHosts.has(d.host)) throw new ConfigError(`DOMAINS[${i}].host: duplicate domain "${d.host}"`);
    seenHosts.add(d.host);
    const pool = d.shards ?? [...shards.keys()];
    for (const id of [...pool, ...Object.values(d.shardHosts)]) {
      if (!shards.has(id)) throw new ConfigError(`DOMAINS[${i}] (${d.host}): unknown shard "${id}"`);
    }
    return { ...d, shards: pool };
  });
  for (const [i, d] of domains.entries()) {
    for (const [host, id] of Object.entries(d.shardHosts)) {
      if (seenHosts.has(host) || shardHosts.has(host)) {
        throw new ConfigError(`DOMAINS[${i}].shardHosts: host "${host}" is claimed twice`);
      }
      shardHosts.set(host, [d, id]);
    }
  }
  return { shards, domains, shardHosts, timing };
}

/** Secrets short enough to guess are refused: each one opens admin access or forges trust. */
const SECRETS = ['ADMIN_SECRET', 'COOKIE_SECRET', 'EDGE_SECRET', 'ORIGIN_ADMIN_TOKEN', 'SESSION_SECRET'] as const;
const MIN_SECRET_LENGTH = 16;

function checkSecrets(env: RawConfig): void {
  for (const name of SECRETS) {
    const length = env[name]?.length ?? 0;
    // Empty counts as unset, as for the origin's variables. The value itself is never shown.
    if (length > 0 && length < MIN_SECRET_LENGTH) throw new ConfigError(`the ${name} secret is shorter than ${MIN_SECRET_LENGTH} characters`);
  }
}

const RAW_KEYS = ['SHARDS', 'DOMAINS', 'PROBE_INTERVAL_MS', 'SNAPSHOT_TTL_MS', 'MOVE_RATE', ...SECRETS] as const;
let cached: { raw: unknown[]; config: EdgeConfig } | undefined;

export function configOf(env: RawConfig): EdgeConfig {
  const raw = RAW_KEYS.map((k) => env[k]);
  if (cached && raw.every((v, i) => v === cached!.raw[i])) return cached.config;
  checkSecrets(env);
  const config = parseConfig(env.SHARDS, env.DOMAINS, env);
  const cookieDomain = config.domains.findIndex((d) => d.modes.includes('cookie'));
  // Without the secret no cookie verifies: every session of the domain would be lost on its first CR.
  if (cookieDomain >= 0 && !env.COOKIE_SECRET) {
    throw new ConfigError(`DOMAINS[${cookieDomain}] (${config.domains[cookieDomain].host}) uses mode "cookie" but the COOKIE_SECRET secret is not set`);
  }
  // The session layer keeps each client's credentials sealed under it, to outlive object restarts.
  const sessionDomain = config.domains.findIndex((d) => d.modes.includes('session'));
  if (sessionDomain >= 0 && !env.SESSION_SECRET) {
    throw new ConfigError(`DOMAINS[${sessionDomain}] (${config.domains[sessionDomain].host}) uses mode "session" but the SESSION_SECRET secret is not set`);
  }
  cached = { raw, config };
  return config;
}

/** The domain a request belongs to, and the shard its hostname names in mode `host`. */
export function domainOf(config: EdgeConfig, hostname: string): { domain: DomainConfig; hostShard?: string } | undefined {
  const host = hostname.toLowerCase();
  const byShardHost = config.shardHosts.get(host);
  if (byShardHost) return { domain: byShardHost[0], hostShard: byShardHost[1] };
  const domain =
    config.domains.find((d) => d.host === host) ??
    config.domains
      .filter((d) => d.host.startsWith('*.') && host.endsWith(d.host.slice(1)))
      .sort((a, b) => b.host.length - a.host.length)[0] ??
    config.domains.find((d) => d.host === '*');
  return domain && { domain };
}
