import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { withEdgeRequest, type EdgeEnv } from './edge-request.ts';
import { configOf } from './config.ts';
import { snapshotOf } from './registry-client.ts';
import { admin } from './admin.ts';
import { tlcp } from './tlcp-routes.ts';
import { statusPage } from './pages/status-page.ts';
import { limitBody, limitHeaders } from './request-limits.ts';

export { ShardRegistry } from '../objects/shard-registry.ts';
export { StickTable } from '../objects/stick-table.ts';
export { SessionPin } from '../objects/session-pin.ts';
export { SessionHost } from '../objects/session-host.ts';
export { SessionDirectory } from '../objects/session-directory.ts';

const app = new Hono<EdgeEnv>();

app.onError((err, c) => {
  // Errors that know their answer (a bad configuration says what is wrong) render themselves.
  if (err instanceof HTTPException) return err.getResponse();
  console.error(err);
  return c.text('internal error\n', 500);
});

app.use('*', limitHeaders, limitBody);

/** The edge is up while it can place a session somewhere. */
app.get('/lightstreamer/healthcheck', async (c) => {
  const config = configOf(c.env);
  const snapshot = await snapshotOf(c.env, config, (p) => c.executionCtx.waitUntil(p));
  return snapshot.shards.some((s) => s.healthy) ? c.text('OK\r\n') : c.text('no healthy shard\r\n', 503);
});

// The page carries no data: it asks the operator for the admin secret and calls the API with it.
app.get('/_edge/status', (c) => c.html(statusPage({ adminBase: '/_edge' }), 200, { 'cache-control': 'no-store' }));
app.route('/_edge', admin);
app.all('*', withEdgeRequest, tlcp);

export default app;
