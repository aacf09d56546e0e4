import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { httpRequest, type HttpAnswer } from './support/http.ts';
import { startScriptedOrigin, type ScriptedOrigin } from './support/scripted-origin.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Each routing mode's decisions (worker/modes/), in workerd, against scripted origins that record
 * every request: where a create goes and what its CONOK's control link becomes, where each later
 * request of the session goes, and what happens when the request names another shard. Fast: no
 * origin processes, no official client (edge-routing runs those end to end).
 */

const secrets = newSecrets();
const origins: Record<string, ScriptedOrigin> = {};
let edge: EdgeHandle;

beforeAll(async () => {
  // a, b: ids that name their shard; c, d: opaque ids, as a genuine Lightstreamer Server issues.
  for (const id of ['a', 'b']) origins[id] = await startScriptedOrigin(id, { controlLink: `${id}.public.example:443` });
  for (const id of ['c', 'd']) origins[id] = await startScriptedOrigin(id, { opaqueIds: true });
  edge = await startEdge({
    secrets,
    shards: Object.values(origins).map((o) => ({ id: o.shard, url: o.url })),
    domains: [
      { host: 'path.test', modes: ['path'], shards: ['a', 'b'], createsPerMinute: 0 },
      { host: 'push.test', modes: ['host'], shards: ['a', 'b'], shardHosts: { 'a.push.test': 'a', 'b.push.test': 'b' }, createsPerMinute: 0 },
      { host: 'sid.test', modes: ['session-id'], shards: ['a', 'b'], createsPerMinute: 0 },
      { host: 'partial.test', modes: ['partial'], controlLink: 'origin', shards: ['a', 'b'], createsPerMinute: 0 },
      { host: 'cookie.test', modes: ['cookie'], shards: ['c', 'd'], createsPerMinute: 0 },
      { host: 'ip.test', modes: ['ip'], shards: ['c', 'd'], createsPerMinute: 0 },
      { host: 'pin.test', modes: ['pin'], shards: ['c', 'd'], createsPerMinute: 0 },
    ],
  });
  await waitUntil(async () => (await httpRequest(edge.port, '/lightstreamer/healthcheck', { host: 'path.test', method: 'GET' })).status === 200, 15_000, () => 'edge never healthy');
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.close()));
});

const CREATE = 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=modes\r\n';

interface Created {
  readonly id: string;
  readonly shard: string;
  readonly link: string;
  readonly answer: HttpAnswer;
}

async function create(host: string, headers: Record<string, string> = {}): Promise<Created> {
  const answer = await httpRequest(edge.port, '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', { host, body: CREATE, headers });
  const conok = /^CONOK,([^,]+),\d+,\d+,([^\r]*)\r\n/.exec(answer.text);
  const shard = /SERVNAME,edgepush (\S+)/.exec(answer.text)?.[1];
  if (!conok || !shard) throw new Error(`no session: ${answer.status} ${answer.text}`);
  return { id: conok[1], link: conok[2], shard, answer };
}

/** A control request of the session; resolves with the answer and the origin that got it, if any. */
async function control(host: string, id: string, options: { prefix?: string; headers?: Record<string, string> } = {}): Promise<{ text: string; reached: string | null }> {
  const before = Object.fromEntries(Object.values(origins).map((o) => [o.shard, o.received.length]));
  const { text } = await httpRequest(edge.port, `${options.prefix ?? ''}/lightstreamer/control.txt?LS_session=${encodeURIComponent(id)}`, { host, body: 'LS_reqId=1&LS_op=constrain\r\n', headers: options.headers });
  const reached = Object.values(origins).find((o) => o.received.length > before[o.shard]);
  return { text, reached: reached?.shard ?? null };
}

const GONE = 'REQERR,1,20,Session not found\r\n';

describe('mode path', () => {
  it('writes /s/<shard> into CONOK and follows it; a path naming another shard than the id reaches nobody', async () => {
    const s = await create('path.test');
    expect(s.link).toBe(`path.test:${edge.port}/s/${s.shard}`);
    expect(await control('path.test', s.id, { prefix: `/s/${s.shard}` })).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    const other = s.shard === 'a' ? 'b' : 'a';
    expect(await control('path.test', s.id, { prefix: `/s/${other}` })).toEqual({ text: GONE, reached: null });
    expect((await httpRequest(edge.port, '/t/a/lightstreamer/control.txt', { host: 'path.test', body: 'LS_reqId=1\r\n' })).status).toBe(404);
  });
});

describe('mode host', () => {
  it("writes the shard's hostname (with the client's port) into CONOK, follows it, and places a create made on a shard's hostname there", async () => {
    const s = await create('push.test');
    expect(s.link).toBe(`${s.shard}.push.test:${edge.port}`);
    expect(await control(`${s.shard}.push.test`, s.id)).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    for (const shard of ['a', 'b']) expect((await create(`${shard}.push.test`)).shard).toBe(shard);
  });
});

describe('mode session-id', () => {
  it('reads the shard from the id on the balancing host, and keeps the client there (link *)', async () => {
    const s = await create('sid.test');
    expect(s.link).toBe('*');
    expect(await control('sid.test', s.id)).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    expect(await control('sid.test', `zz.${'A'.repeat(32)}`)).toEqual({ text: GONE, reached: null });
  });
});

describe('mode partial', () => {
  it("lets the origin's own control link through: CR requests go straight to the origin", async () => {
    const s = await create('partial.test');
    expect(s.link).toBe(`${s.shard}.public.example:443`);
  });
});

describe('mode cookie', () => {
  it('sets a signed cookie naming the shard on the create and follows it; a tampered cookie routes nowhere', async () => {
    const s = await create('cookie.test');
    const cookie = String(s.answer.headers['set-cookie']).split(';')[0];
    expect(cookie).toMatch(new RegExp(`^edgepush_sticky=${s.shard}\\.\\d+\\.`));
    expect(await control('cookie.test', s.id, { headers: { cookie } })).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    const other = s.shard === 'c' ? 'd' : 'c';
    expect(await control('cookie.test', s.id, { headers: { cookie: cookie.replace(`=${s.shard}.`, `=${other}.`) } })).toEqual({ text: GONE, reached: null });
    // The client's cookie placed a later create: no new cookie for it.
    const again = await create('cookie.test', { cookie });
    expect(again.shard).toBe(s.shard);
    expect(again.answer.headers['set-cookie']).toBeUndefined();
  });
});

describe('mode ip', () => {
  it("associates the client's address with its first session's shard and follows it; another address has no home", async () => {
    const client = { 'cf-connecting-ip': '203.0.113.9' };
    const s = await create('ip.test', client);
    expect(await control('ip.test', s.id, { headers: client })).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    expect((await create('ip.test', client)).shard).toBe(s.shard);
    expect(await control('ip.test', s.id, { headers: { 'cf-connecting-ip': '203.0.113.10' } })).toEqual({ text: GONE, reached: null });
  });
});

describe('mode pin', () => {
  it("learns each opaque session's shard from its CONOK before the client sees it; an id nobody pinned routes nowhere", async () => {
    const sessions = await Promise.all(Array.from({ length: 6 }, () => create('pin.test')));
    expect(new Set(sessions.map((s) => s.shard))).toEqual(new Set(['c', 'd']));
    for (const s of sessions) expect(await control('pin.test', s.id)).toEqual({ text: 'REQOK,1\r\n', reached: s.shard });
    expect(await control('pin.test', `S${'0'.repeat(32)}`)).toEqual({ text: GONE, reached: null });
  });
});
