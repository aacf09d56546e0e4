import { Hono, type Context } from 'hono';
import { except } from 'hono/combine';
import { z } from 'zod';
import type { EdgeEnv } from './edge-request.ts';
import { configOf } from './config.ts';
import { freshSnapshot, registryOf, rosterOf, settingsOf } from './registry-client.ts';
import { requireAdmin, requireJson } from './admin-auth.ts';
import { shardTransport } from '../objects/shard-transport.ts';
import type { RegistryStatus } from '../objects/shard-registry.ts';
import { clientFactsOf, originHeaders } from './forwarding.ts';

/**
 * Operator API under `/_edge` (ADMIN_SECRET): registry status and routing counters, drain, shed and
 * weights (guide §5), and direct access to one shard's status and dashboard (guide §6) — by shard id,
 * never through the balancing route, and only to those read-only origin pages.
 */
export const admin = new Hono<EdgeEnv>();

const READ = ['GET', 'HEAD'];
const isRead = (c: Context) => READ.includes(c.req.method);
// Every change, on any route here now or later: a bearer token and a JSON body (see admin-auth.ts).
admin.use('*', except(isRead, requireAdmin('bearer'), requireJson));
admin.on(READ, '/api/*', requireAdmin('bearer'));
admin.on(READ, '/shards/*', requireAdmin('bearer-or-basic'));

admin.get('/api/status', async (c) => {
  const config = configOf(c.env);
  await freshSnapshot(c.env, config);
  const status: RegistryStatus = await registryOf(c.env).status(rosterOf(config), settingsOf(c.env, config));
  return c.json({
    ...status,
    domains: config.domains.map(({ host, modes, shards, shardHosts, pathPrefix, controlLink, stickySeconds, pinSeconds, maxSessionMinutes, maxSessionJitter }) => ({
      host,
      modes,
      shards,
      shardHosts,
      pathPrefix,
      controlLink,
      stickySeconds,
      pinSeconds,
      maxSessionMinutes,
      maxSessionJitter,
    })),
  });
});

/**
 * The registry adopts this deploy's roster first, so a shard the deploy just added is one it knows.
 * Afterwards this isolate routes by the change at once; others pick it up within their snapshot TTL.
 */
async function applied<T>(env: EdgeEnv['Bindings'], change: (registry: ReturnType<typeof registryOf>) => Promise<T>): Promise<T> {
  const config = configOf(env);
  await freshSnapshot(env, config);
  const result = await change(registryOf(env));
  await freshSnapshot(env, config);
  return result;
}

const known = (c: { env: EdgeEnv['Bindings'] }, id: string) => configOf(c.env).shards.has(id);

admin.post('/api/shards/:id/drain', async (c) => {
  const id = c.req.param('id');
  if (!known(c, id)) return c.json({ error: `unknown shard "${id}"` }, 404);
  return c.json(await applied(c.env, (r) => r.drain(id)));
});

admin.post('/api/shards/:id/undrain', async (c) => {
  const id = c.req.param('id');
  if (!known(c, id)) return c.json({ error: `unknown shard "${id}"` }, 404);
  return c.json(await applied(c.env, (r) => r.undrain(id)));
});

const ShedBody = z.object({ count: z.number().int().positive() });
admin.post('/api/shards/:id/shed', async (c) => {
  const id = c.req.param('id');
  if (!known(c, id)) return c.json({ error: `unknown shard "${id}"` }, 404);
  const body = ShedBody.safeParse(await c.req.json().catch(() => null));
  if (!body.success) return c.json({ error: 'body must be {"count": <positive integer>}' }, 400);
  return c.json(await applied(c.env, (r) => r.shed(id, body.data.count)));
});

const WeightBody = z.object({ weight: z.number().min(0).nullable() });
admin.put('/api/shards/:id/weight', async (c) => {
  const id = c.req.param('id');
  if (!known(c, id)) return c.json({ error: `unknown shard "${id}"` }, 404);
  const body = WeightBody.safeParse(await c.req.json().catch(() => null));
  if (!body.success) return c.json({ error: 'body must be {"weight": <number ≥ 0> | null}' }, 400);
  return c.json(await applied(c.env, (r) => r.setWeight(id, body.data.weight)));
});

/** The origin pages an operator may reach on one chosen shard. */
const DIRECT_PATHS = /^\/(api\/status|dashboard\/?|dashboard\/data|metrics)$/;

admin.on(['GET', 'HEAD'], '/shards/:id/*', async (c) => {
  const shard = configOf(c.env).shards.get(c.req.param('id'));
  if (!shard) return c.json({ error: `unknown shard "${c.req.param('id')}"` }, 404);
  const url = new URL(c.req.url);
  const rest = url.pathname.slice(`/_edge/shards/${shard.id}`.length);
  if (!DIRECT_PATHS.test(rest)) return c.json({ error: 'not an instance page' }, 404);
  const headers = originHeaders(c.req.raw.headers, clientFactsOf(c.req.raw, url), c.env.EDGE_SECRET);
  headers.delete('authorization');
  try {
    const res = await shardTransport(c.env).fetch(shard, rest + url.search, { method: c.req.method, headers });
    return new Response(res.body, res);
  } catch (err) {
    return c.json({ error: `shard ${shard.id} unreachable: ${(err as Error).message}` }, 502);
  }
});
