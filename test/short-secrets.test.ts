import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configOf, ConfigError } from '../worker/config.ts';
import { loadConfig } from '../origin/config.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { freePort } from './support/ports.ts';
import { spawnManaged, tsNode, waitForHttp } from './support/process.ts';

/**
 * Secrets short enough to guess are refused at start, on the edge and on the origins, with a message
 * that names the variable and never shows the value.
 */

const SHORT = 'fifteen-chars!!';
const LONG = 'sixteen-chars!!!';

describe('edge', () => {
  let edge: EdgeHandle;
  beforeAll(async () => {
    // The shard is never reached: the configuration stops every request before any routing.
    edge = await startEdge({
      shards: [{ id: 'z1', url: 'http://127.0.0.1:9' }],
      domains: [{ host: '*', modes: ['path'] }],
      secrets: { ...newSecrets(), admin: SHORT },
    });
  }, 120_000);
  afterAll(async () => {
    await edge?.stop();
  });

  it('answers every request with the configuration error naming ADMIN_SECRET, the admin API included', async () => {
    const answers = await Promise.all([
      fetch(`${edge.url}/lightstreamer/healthcheck`),
      fetch(`${edge.url}/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0`, { method: 'POST', body: 'LS_adapter_set=DEMO&LS_cid=x\r\n' }),
      // The short secret itself opens nothing.
      edge.admin('/_edge/api/status'),
      edge.admin('/_edge/api/shards/z1/drain', { method: 'POST', body: '{}' }),
    ]);
    for (const res of answers) {
      const text = await res.text();
      expect(res.status, res.url).toBe(500);
      expect(text, res.url).toBe('edge configuration error: the ADMIN_SECRET secret is shorter than 16 characters\n');
      expect(text).not.toContain(SHORT);
    }
  });

  it.each(['ADMIN_SECRET', 'COOKIE_SECRET', 'EDGE_SECRET', 'ORIGIN_ADMIN_TOKEN'])('refuses a short %s and takes one of 16 characters', (name) => {
    const env = { SHARDS: '[{"id":"z1","url":"http://127.0.0.1:9"}]', DOMAINS: '[{"host":"*","modes":["path"]}]' };
    expect(() => configOf({ ...env, [name]: SHORT })).toThrow(ConfigError);
    expect(() => configOf({ ...env, [name]: SHORT })).toThrow(`the ${name} secret is shorter than 16 characters`);
    expect(configOf({ ...env, [name]: LONG }).shards.has('z1')).toBe(true);
  });
});

describe('origin', () => {
  it.each(['ADMIN_TOKEN', 'PUBLISH_TOKEN', 'EDGE_SECRET'])('refuses a short %s and takes one of 16 characters', (name) => {
    expect(() => loadConfig({ [name]: SHORT })).toThrow(`  ${name}=<hidden, 15 characters>: must be at least 16 characters`);
    expect(() => loadConfig({ [name]: LONG })).not.toThrow();
  });

  it('exits 1 before listening, naming the variable and never showing the value', async () => {
    const port = await freePort();
    const origin = spawnManaged(...tsNode('origin/main.ts'), { PORT: String(port), ADMIN_TOKEN: SHORT });
    const exited = once(origin.child, 'exit').then(([code]) => code as number);
    // An origin that takes the secret listens instead: that ends the wait as well.
    const listening = waitForHttp(`http://127.0.0.1:${port}/lightstreamer/healthcheck`, origin).then(
      () => 'listening',
      () => 'not listening',
    );
    expect(await Promise.race([exited, listening])).toBe(1);
    expect(origin.output()).toBe('invalid configuration:\n  ADMIN_TOKEN=<hidden, 15 characters>: must be at least 16 characters\n');
    await origin.stop();
  });
});
