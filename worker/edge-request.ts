import { waitUntil } from 'cloudflare:workers';
import type { Context, MiddlewareHandler } from 'hono';
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
  /**
   * workerd's own, not one closing over the framework's context: streams and relays keep the
   * EdgeRequest for hours, and with the context they would keep the Request and its headers.
   */
  readonly waitUntil: (p: Promise<unknown>) => void;
}

export type EdgeEnv = { Bindings: Env; Variables: { edge: EdgeRequest } };

/**
 * Resolves the request's domain, client and registry snapshot once, for every handler after it
 * (`c.get('edge')`). A host no domain claims goes nowhere: the answer names the host, so an operator
 * can tell a missing DOMAINS entry from a wrong DNS record.
 */
export const withEdgeRequest: MiddlewareHandler<EdgeEnv> = async (c, next) => {
  const er = await edgeRequestOf(c);
  if (!er) return c.text(`no domain is configured for host ${new URL(c.req.url).hostname}\n`, 404);
  c.set('edge', er);
  await next();
};

async function edgeRequestOf(c: Context<EdgeEnv>): Promise<EdgeRequest | null> {
  const config = configOf(c.env);
  const url = new URL(c.req.url);
  const match = domainOf(config, url.hostname);
  if (!match) return null;
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
