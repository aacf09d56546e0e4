import type { Context } from 'hono';
import type { Env } from './env.ts';
import { configOf, domainOf, type DomainConfig, type EdgeConfig } from './config.ts';
import { clientFactsOf, type ClientFacts } from './forwarding.ts';
import { snapshotOf } from './registry-client.ts';
import type { Snapshot } from '../objects/registry-types.ts';

/** Everything routing needs to know about one client request, resolved once. */
export interface EdgeRequest {
  readonly env: Env;
  readonly config: EdgeConfig;
  readonly domain: DomainConfig;
  /** The shard the hostname names (mode `host`). */
  readonly hostShard: string | undefined;
  readonly client: ClientFacts;
  readonly snapshot: Snapshot;
  readonly waitUntil: (p: Promise<unknown>) => void;
}

export type EdgeEnv = { Bindings: Env; Variables: { edge: EdgeRequest } };

export async function edgeRequestOf(c: Context<EdgeEnv>): Promise<EdgeRequest | null> {
  const config = configOf(c.env);
  const url = new URL(c.req.url);
  const match = domainOf(config, url.hostname);
  if (!match) return null;
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  return {
    env: c.env,
    config,
    domain: match.domain,
    hostShard: match.hostShard,
    client: clientFactsOf(c.req.raw, url),
    snapshot: await snapshotOf(c.env, config, waitUntil),
    waitUntil,
  };
}
