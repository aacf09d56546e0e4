/**
 * Redis unreachable, stopped or hung: an origin answers a subscription to an item it does not hold
 * yet within a bounded time with REQERR (the subscription fails, the session goes on), answers the
 * other requests of the same socket meanwhile, and serves the items it holds from its own copy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import { RawSocket, tlcpPost } from './support/tlcp-raw.ts';

const TOKEN = 'outage-publish-token';
const started: Array<{ stop(): Promise<void> }> = [];

afterEach(async () => {
  for (const handle of started.splice(0).reverse()) await handle.stop();
});

const add = (reqId: number, subId: number, item: string) =>
  `LS_reqId=${reqId}&LS_op=add&LS_subId=${subId}&LS_mode=MERGE&LS_group=${item}&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=true`;

interface Setup {
  readonly redis: RedisHandle;
  readonly origin: OriginHandle;
  readonly socket: RawSocket;
  readonly session: string;
}

/** A Redis-backed origin, and a WebSocket session subscribed to `held` (so the origin holds it). */
async function setup(): Promise<Setup> {
  const redis = await startRedis();
  started.push(redis);
  const origin = await startOrigin({ REDIS_URL: redis.url, PUBLISH_TOKEN: TOKEN });
  started.push(origin);
  await publish(origin.url, TOKEN, [{ item: 'held', fields: { v: 'before' } }]);
  const socket = new RawSocket(origin.url);
  started.push({ stop: async () => socket.close() });
  const session = await socket.create();
  socket.send(`control\r\n${add(1, 1, 'held')}`);
  await socket.line(/^U,1,1,before$/);
  return { redis, origin, socket, session };
}

async function status(origin: OriginHandle): Promise<{ items: number; bus: { connected: boolean } }> {
  return (await (await fetch(`${origin.url}/api/status`)).json()) as { items: number; bus: { connected: boolean } };
}

describe('Redis unreachable', () => {
  it('stopped: a new item gets REQERR 68, answered after the requests behind it; held items are served, and HTTP control lines are not held up', async () => {
    const { redis, origin, socket, session } = await setup();
    await redis.stop();
    await expect.poll(async () => (await status(origin)).bus.connected).toBe(false);
    const from = socket.lines.length;
    socket.send(`control\r\n${add(2, 2, 'fresh')}`);
    socket.send(`control\r\n${add(3, 3, 'held')}`);
    const subscribed = await socket.line(/^SUBOK,3,/, from);
    const refused = await socket.line(/^REQERR,2,/, from, 15_000);
    expect(refused).toMatch(/^REQERR,2,68,items unavailable: not loaded within \d+ ms: the shared bus is unreachable$/);
    expect(socket.lines.indexOf(subscribed, from)).toBeLessThan(socket.lines.indexOf(refused, from));
    await socket.line(/^U,3,1,before$/, from);

    // One HTTP control body: the line waiting for Redis does not hold up the one behind it, and
    // both are answered in bounded time.
    const control = await tlcpPost(origin.url, 'control', `${add(4, 4, 'fresh2')}\r\nLS_reqId=5&LS_op=delete&LS_subId=3\r\n`, `LS_protocol=TLCP-2.5.0&LS_session=${session}`);
    expect(control.lines).toEqual([expect.stringMatching(/^REQERR,4,68,items unavailable: /), 'REQOK,5']);
    await socket.line(/^UNSUB,3$/, from);

    // The session went on all along, and the origin forgot the items it could not load.
    expect(socket.lines.filter((l) => /^(END|CONERR|ERROR)/.test(l))).toEqual([]);
    expect((await status(origin)).items).toBe(1);
  }, 60_000);

  it('hung (SIGSTOP): a new item gets REQERR 68 after the others are answered, and once Redis resumes new items load again', async () => {
    const { redis, origin, socket } = await setup();
    redis.child.kill('SIGSTOP');
    started.push({ stop: async () => void redis.child.kill('SIGCONT') });
    const from = socket.lines.length;
    socket.send(`control\r\n${add(2, 2, 'fresh')}`);
    socket.send(`control\r\n${add(3, 3, 'held')}`);
    const subscribed = await socket.line(/^SUBOK,3,/, from);
    const refused = await socket.line(/^REQERR,2,/, from, 15_000);
    expect(refused).toMatch(/^REQERR,2,68,items unavailable: not loaded within \d+ ms$/);
    expect(socket.lines.indexOf(subscribed, from)).toBeLessThan(socket.lines.indexOf(refused, from));
    expect((await status(origin)).items).toBe(1);

    redis.child.kill('SIGCONT');
    await publish(origin.url, TOKEN, [{ item: 'fresh', fields: { v: 'after' } }]);
    socket.send(`control\r\n${add(4, 4, 'fresh')}`);
    await socket.line(/^U,4,1,after$/, from, 15_000);
    expect(socket.lines.filter((l) => /^(END|CONERR|ERROR)/.test(l))).toEqual([]);
  }, 60_000);
});
