import { describe, expect, it } from 'vitest';
import { EmbeddedBus } from '../origin/bus/embedded.ts';
import { startOrigin } from './support/origin.ts';
import { startRedis } from './support/redis.ts';
import { MAX_UPDATES_PER_REQUEST, parsePublishBody, publishUpdates } from '../origin/publish.ts';

const refused = (body: string) => {
  const parsed = parsePublishBody(body);
  if (parsed.ok) throw new Error(`accepted ${body}`);
  return parsed.message;
};

describe('publish API bodies', () => {
  it('accepts one update or a list, with string and null values', () => {
    expect(parsePublishBody('{"item":"item1","fields":{"last_price":"1.5","note":null}}')).toEqual({
      ok: true,
      updates: [{ item: 'item1', fields: { last_price: '1.5', note: null } }],
    });
    const list = parsePublishBody('[{"item":"a","fields":{"x":"1"}},{"item":"sensors/7","fields":{"t":"20"}}]');
    expect(list.ok && list.updates.map((u) => u.item)).toEqual(['a', 'sensors/7']);
  });

  it('accepts a clear-snapshot entry, alone or in a list', () => {
    expect(parsePublishBody('{"item":"chat","clearSnapshot":true}')).toEqual({ ok: true, updates: [{ item: 'chat', clearSnapshot: true }] });
    const list = parsePublishBody('[{"item":"a","fields":{"x":"1"}},{"item":"a","clearSnapshot":true}]');
    expect(list.ok && list.updates).toEqual([{ item: 'a', fields: { x: '1' } }, { item: 'a', clearSnapshot: true }]);
    expect(refused('{"item":"a","clearSnapshot":false}')).toMatch(/^clearSnapshot: /);
    expect(refused('{"item":"a","clearSnapshot":true,"fields":{"x":"1"}}')).toMatch(/fields/);
    expect(refused('[{"item":"a","fields":{"x":"1"}},{"item":"a b","clearSnapshot":true}]')).toMatch(/^1\.item: /);
  });

  it('answers what is wrong, for a 400', () => {
    expect(refused('not json')).toBe('body is not JSON');
    expect(refused('{"item":"a b","fields":{"x":"1"}}')).toMatch(/^item: 1-128 characters/);
    expect(refused('{"item":"a","fields":{"x":1}}')).toMatch(/^fields\.x: /);
    expect(refused('{"item":"a","fields":{}}')).toMatch(/^fields: at least one field/);
    expect(refused('{"item":"a","fields":{"bad name":"1"}}')).toMatch(/^fields\.bad name: field names/);
    expect(refused('{"item":"a","fields":{"x":"1"},"extra":true}')).toMatch(/extra/);
    expect(refused("[]")).toMatch(/^an empty list/);
    expect(refused('[{"item":"a","fields":{"x":"1"}},{"item":"b"}]')).toMatch(/^1\.fields: /);
    expect(refused('"x"')).toMatch(/expected \{"item"/);
    const tooMany = JSON.stringify(Array.from({ length: MAX_UPDATES_PER_REQUEST + 1 }, () => ({ item: 'a', fields: { x: '1' } })));
    expect(refused(tooMany)).toMatch(/1000/);
  });

  it('publishes a list in order', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    const parsed = parsePublishBody('[{"item":"a","fields":{"x":"1"}},{"item":"a","fields":{"x":"2"}}]');
    if (!parsed.ok) throw new Error(parsed.message);
    expect(await publishUpdates(bus, parsed.updates)).toBe(2);
    const { snapshot } = await bus.watch('a', () => {});
    expect(snapshot.history.map((e) => e.fields.x)).toEqual(['1', '2']);
  });

  it('clears an item in its place in the list', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    const parsed = parsePublishBody('[{"item":"a","fields":{"x":"1"}},{"item":"a","clearSnapshot":true},{"item":"a","fields":{"y":"2"}}]');
    if (!parsed.ok) throw new Error(parsed.message);
    expect(await publishUpdates(bus, parsed.updates)).toBe(3);
    const { snapshot } = await bus.watch('a', () => {});
    expect(snapshot.seq).toBe(3);
    expect(snapshot.merged).toEqual({ y: '2' });
    expect(snapshot.history.map((e) => e.fields)).toEqual([{ y: '2' }]);
  });
});

describe('POST /api/publish', () => {
  it('answers 503 with a message while Redis is down, and 200 again once it is back', async () => {
    const redis = await startRedis();
    const origin = await startOrigin({ REDIS_URL: redis.url, PUBLISH_TOKEN: 'publish-test-token' });
    const post = async (body: unknown) => {
      const res = await fetch(`${origin.url}/api/publish`, {
        method: 'POST',
        headers: { authorization: 'Bearer publish-test-token', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
    };
    try {
      expect(await post({ item: 'down', fields: { x: '1' } })).toMatchObject({ status: 200, body: { published: 1 } });
      await redis.kill();
      await expect.poll(async () => (await post({ item: 'down', fields: { x: '2' } })).status, { timeout: 10_000 }).toBe(503);
      const refused = await post([{ item: 'down', fields: { x: '3' } }, { item: 'down', clearSnapshot: true }]);
      expect(refused.status).toBe(503);
      expect(refused.retryAfter).toBe('2');
      expect(refused.body).toMatchObject({ published: 0 });
      expect(refused.body.error).toMatch(/^bus unavailable, retry later: redis unreachable/);
      const back = await startRedis(redis.port);
      try {
        await expect.poll(async () => (await post({ item: 'down', fields: { x: '4' } })).status, { timeout: 15_000 }).toBe(200);
      } finally {
        await back.stop();
      }
    } finally {
      await origin.stop();
      await redis.stop();
    }
  });
});
