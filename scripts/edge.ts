/**
 * `npm run edge`: the edge Worker alone, in workerd on Miniflare (scripts/local-edge.ts), as `npm
 * start` runs it. wrangler.toml gives its bindings and default vars; the environment overrides any of
 * those vars and supplies the secrets, so nothing secret appears on a command line. Its Durable
 * Objects keep their state in .wrangler/state across restarts, as they would on Cloudflare.
 *
 *   EDGE_PORT=8787 SHARDS='[…]' DOMAINS='[…]' ADMIN_SECRET=… npm run edge
 */
import path from 'node:path';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { startLocalEdge } from './local-edge.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
/** The Worker's secrets (worker/env.ts): `wrangler secret put` on Cloudflare, the environment here. */
const SECRETS = ['ADMIN_SECRET', 'COOKIE_SECRET', 'EDGE_SECRET', 'ORIGIN_ADMIN_TOKEN', 'SESSION_SECRET'];

const port = Number(process.env.EDGE_PORT ?? 8787);
const tomlVars = Object.keys(unstable_getMiniflareWorkerOptions(path.join(ROOT, 'wrangler.toml')).workerOptions.bindings ?? {});
const vars = Object.fromEntries([...tomlVars, ...SECRETS].flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]!]])));
const edge = await startLocalEdge({ port, vars, persistDir: process.env.EDGE_STATE_DIR ?? path.join(ROOT, '.wrangler/state/edgepush'), verbose: true });
process.stdout.write(`edge listening on ${edge.url}\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void edge.stop().then(() => process.exit(0));
  });
}
