/**
 * Raw TLCP against a real origin, for what the official client cannot send: malformed and
 * oversized requests, foreign or unknown sessions, sequence gaps, explicit acknowledgement options.
 * An official client keeps streaming through all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { connectClient, watchSubscription, type WatchedClient, type WatchedSubscription } from './support/client.ts';
import { RawSocket, createPollingSession, tlcpPost } from './support/tlcp-raw.ts';

const TOKEN = 'raw-publish-token';
const ADMIN = 'raw-origin-admin-token';
const FOREIGN = `other.${'A'.repeat(32)}`;
let origin: OriginHandle;
let bystander: WatchedClient;
let quotes: WatchedSubscription;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN });
  bystander = await connectClient(origin.url, { transport: 'WS-STREAMING' });
  quotes = watchSubscription(bystander.client, { mode: 'MERGE', items: ['item1'], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER', snapshot: 'yes' });
  await quotes.until((u) => u.length > 0, 'first quote');
});
afterAll(async () => {
  await bystander?.disconnect();
  await origin?.stop();
});

const status = async () => (await fetch(`${origin.url}/api/status`)).json();

describe('HTTP requests', () => {
  it('a polling create answers CONOK with a shard-prefixed id, SERVNAME, CLIENTIP, CONS and LOOP', async () => {
    const res = await tlcpPost(origin.url, 'create_session', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=x\r\n');
    expect(res.status).toBe(200);
    expect(res.lines[0]).toMatch(new RegExp(`^CONOK,${origin.shardId}\\.[A-Za-z0-9_-]{32},50000,0,\\*$`));
    expect(res.lines.slice(1)).toEqual([`SERVNAME,edgepush ${origin.shardId}`, 'CLIENTIP,127.0.0.1', 'CONS,unlimited', 'LOOP,0']);
  });

  it('a create asking for a bandwidth is granted it in CONS; a bad one is refused with CONERR 65', async () => {
    const create = (bandwidth: string) =>
      tlcpPost(origin.url, 'create_session', `LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_requested_max_bandwidth=${bandwidth}&LS_cid=x\r\n`);
    expect((await create('12.5')).lines).toContain('CONS,12.5');
    expect((await create('0.2')).lines).toContain('CONS,1');
    expect((await create('nope')).lines[0]).toMatch(/^CONERR,65,LS_requested_max_bandwidth/);
  });

  it('refuses an unknown adapter set with CONERR 2', async () => {
    const res = await tlcpPost(origin.url, 'create_session', 'LS_polling=true&LS_idle_millis=0&LS_adapter_set=NOPE&LS_cid=x\r\n');
    expect(res.lines[0]).toMatch(/^CONERR,2,/);
  });

  it('answers malformed lines and bad percent-encoding with code 65', async () => {
    expect((await tlcpPost(origin.url, 'create_session', 'LS_polling=true&LS_adapter_set\r\n')).lines[0]).toMatch(/^CONERR,65,/);
    expect((await tlcpPost(origin.url, 'create_session', 'LS_user=%E0%A4%A&LS_adapter_set=DEMO\r\n')).lines[0]).toMatch(/^CONERR,65,.*percent-encoding/);
    const id = await createPollingSession(origin.url);
    const res = await tlcpPost(
      origin.url,
      'control',
      'LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=a%ZZ&LS_schema=v\r\nLS_op=add&LS_subId=%\r\nLS_reqId=3&LS_op=explode\r\nLS_reqId=4&LS_op=add&LS_subId=4&LS_mode=MERGE&LS_group=x\r\n',
      `LS_protocol=TLCP-2.5.0&LS_session=${id}`,
    );
    expect(res.status).toBe(200);
    expect(res.lines).toHaveLength(4);
    expect(res.lines[0]).toMatch(/^REQERR,1,65,/);
    expect(res.lines[1]).toMatch(/^ERROR,65,/);
    expect(res.lines[2]).toMatch(/^REQERR,3,67,/);
    expect(res.lines[3]).toMatch(/^REQERR,4,65,missing LS_schema/);
  });

  it('a session not held here is 20 for binds and control lines; a heartbeat is still REQOK', async () => {
    const unknown = `${origin.shardId}.${'B'.repeat(32)}`;
    expect((await tlcpPost(origin.url, 'bind_session', `LS_session=${unknown}&LS_content_length=1000\r\n`)).lines).toEqual(['CONERR,20,session not found']);
    const control = await tlcpPost(origin.url, 'control', 'LS_reqId=7&LS_op=delete&LS_subId=1\r\n', `LS_session=${unknown}`);
    expect(control.lines).toEqual(['REQERR,7,20,session not found']);
    expect((await tlcpPost(origin.url, 'heartbeat', '\r\n', `LS_session=${unknown}`)).lines).toEqual(['REQOK']);
  });

  it('a bind naming its session in both query and body is for the query\'s one, as the edge routes it', async () => {
    const id = await createPollingSession(origin.url);
    const elsewhere = `${origin.shardId}.${'C'.repeat(32)}`;
    const bind = await tlcpPost(origin.url, 'bind_session', `LS_session=${elsewhere}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0\r\n`, `LS_session=${id}`);
    expect(bind.lines[0]).toMatch(new RegExp(`^CONOK,${id},`));
  });

  it("another shard's session id is the wrong-instance answer, counted in status", async () => {
    const before = (await status()).wrongInstance;
    expect((await tlcpPost(origin.url, 'bind_session', `LS_session=${FOREIGN}\r\n`)).lines[0]).toMatch(/^CONERR,21,/);
    expect((await tlcpPost(origin.url, 'control', 'LS_reqId=2&LS_op=destroy\r\n', `LS_session=${FOREIGN}`)).lines[0]).toMatch(/^REQERR,2,11,/);
    expect((await status()).wrongInstance).toBe(before + 2);
  });

  it('non-TLCP requests get HTTP 400, oversized bodies 413', async () => {
    expect((await fetch(`${origin.url}/lightstreamer/create_session.txt`)).status).toBe(400);
    expect((await tlcpPost(origin.url, 'explode', 'LS_x=1')).status).toBe(400);
    expect((await tlcpPost(origin.url, 'create_session', new Uint8Array([0xff, 0xfe, 0x00, 0x01]))).status).toBe(400);
    expect((await tlcpPost(origin.url, 'create_session', 'LS_a=1\x00\x01\x02')).status).toBe(400);
    expect((await tlcpPost(origin.url, 'control', `LS_reqId=1&LS_message=${'x'.repeat(1024 * 1024)}`)).status).toBe(413);
    await expect(new RawSocket(origin.url, []).opened).rejects.toThrow(/Unexpected server response: 400/);
    await expect(new RawSocket(origin.url, ['chat']).opened).rejects.toThrow(/Unexpected server response: 400/);
  });

  it('recovery from a point the replay buffer no longer holds is CONERR 4', async () => {
    const id = await createPollingSession(origin.url);
    const item = 'raw_replay_overflow';
    const add = await tlcpPost(origin.url, 'control', `LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=${item}&LS_schema=v\r\n`, `LS_session=${id}`);
    expect(add.lines).toEqual(['REQOK,1']);
    // Each poll drains what is queued; poll until well over the replay budget went out.
    let delivered = 0;
    for (let round = 0; round < 10; round++) {
      await publish(origin.url, TOKEN, Array.from({ length: 100 }, (_, i) => ({ item, fields: { v: `${round}-${i}-${'y'.repeat(200)}` } })));
      const poll = await tlcpPost(origin.url, 'bind_session', `LS_session=${id}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=1000\r\n`);
      delivered += poll.lines.filter((l) => l.startsWith('U,')).length;
    }
    expect(delivered).toBe(1000);
    expect((await tlcpPost(origin.url, 'bind_session', `LS_session=${id}&LS_recovery_from=1&LS_polling=true&LS_idle_millis=0\r\n`)).lines[0]).toMatch(/^CONERR,4,/);
    const recent = await tlcpPost(origin.url, 'bind_session', `LS_session=${id}&LS_recovery_from=1001&LS_polling=true&LS_idle_millis=0\r\n`);
    expect(recent.lines).toContain('PROG,1001');
    expect(recent.lines.filter((l) => l.startsWith('U,'))).toHaveLength(1);
  });

  it('the publish API needs its token and a well-formed body', async () => {
    const post = (auth: string | null, body: string) =>
      fetch(`${origin.url}/api/publish`, { method: 'POST', headers: auth ? { authorization: auth } : {}, body });
    expect((await post(null, '{}')).status).toBe(401);
    expect((await post('Bearer wrong', '{}')).status).toBe(401);
    expect((await post(`Bearer ${TOKEN}`, 'not json')).status).toBe(400);
    expect((await post(`Bearer ${TOKEN}`, '{"item":"a b","fields":{"v":"1"}}')).status).toBe(400);
    const ok = await post(`Bearer ${TOKEN}`, '[{"item":"p1","fields":{"v":"1"}},{"item":"p2","fields":{"v":null}}]');
    expect(await ok.json()).toEqual({ published: 2 });
  });
});

describe('WebSocket requests', () => {
  it('echoes the subprotocol, answers wsok, and honours LS_ack=false for add and delete', async () => {
    const s = new RawSocket(origin.url);
    await s.create();
    expect(s.ws.protocol).toBe('TLCP-2.5.0.lightstreamer.com');
    await publish(origin.url, TOKEN, { item: 'raw_ws_item', fields: { a: 'x', b: null } });
    s.send('control\r\nLS_reqId=1&LS_op=add&LS_subId=3&LS_mode=MERGE&LS_group=raw_ws_item&LS_schema=a%20b&LS_snapshot=true&LS_ack=false');
    expect(await s.line(/^U,3,/)).toBe('U,3,1,x|#');
    expect(s.lines).toContain('SUBOK,3,1,2');
    expect(s.lines).toContain('CONF,3,unlimited,filtered');
    s.send('control\r\nLS_reqId=2&LS_op=reconf&LS_subId=3&LS_requested_max_frequency=2');
    await s.line(/^REQOK,2$/);
    await s.line(/^CONF,3,2,filtered$/);
    s.send('control\r\nLS_reqId=3&LS_op=delete&LS_subId=3&LS_ack=false');
    await s.line(/^UNSUB,3$/);
    s.send('control\r\nLS_reqId=4&LS_op=add&LS_subId=4&LS_mode=COMMAND&LS_group=raw_ws_cmd&LS_schema=command%20qty');
    await s.line(/^REQERR,4,15,/);
    expect(s.lines.filter((l) => /^REQOK,[13]$/.test(l))).toEqual([]);
    s.close();
  });

  it('messages: sequences in order, gaps skipped after LS_max_wait with 38 and 39, outcome and ack options', async () => {
    const s = new RawSocket(origin.url);
    await s.create();
    const msg = (params: string) => s.send(`msg\r\nLS_message=CHAT%7Craw&${params}`);
    msg('LS_reqId=1&LS_sequence=S&LS_msg_prog=2&LS_max_wait=100');
    await s.line(/^REQOK,1$/);
    expect(await s.line(/^MSGFAIL,S,1,/)).toBe('MSGFAIL,S,1,38,message skipped: max wait elapsed');
    await s.line(/^MSGDONE,S,2,$/);
    msg('LS_reqId=2&LS_sequence=S&LS_msg_prog=6&LS_max_wait=100');
    expect(await s.line(/^MSGFAIL,S,5,/)).toBe('MSGFAIL,S,5,39,3');
    await s.line(/^MSGDONE,S,6,$/);
    msg('LS_reqId=3&LS_sequence=S&LS_msg_prog=7&LS_outcome=false');
    msg('LS_reqId=4&LS_msg_prog=1');
    await s.line(/^MSGDONE,\*,1,$/);
    msg('LS_reqId=5&LS_outcome=false&LS_ack=false');
    msg('LS_reqId=6&LS_sequence=UNORDERED_MESSAGES&LS_msg_prog=1');
    await s.line(/^REQERR,6,/);
    s.send('msg\r\nLS_reqId=7&LS_message=nope&LS_sequence=T&LS_msg_prog=1');
    expect(await s.line(/^MSGFAIL,T,/)).toMatch(/^MSGFAIL,T,1,-1,/);
    expect(s.lines.filter((l) => /,S,7,|^REQOK,5$/.test(l))).toEqual([]);
    s.close();
  });

  it('force_rebind ends the stream with LOOP; an operator end reaches a stream as END 48', async () => {
    const s = new RawSocket(origin.url);
    await s.create();
    s.send('control\r\nLS_reqId=1&LS_op=force_rebind');
    await s.line(/^LOOP,0$/);
    const other = new RawSocket(origin.url);
    const id = await other.create();
    s.close();
    const before = (await status()).sessions;
    const res = await fetch(`${origin.url}/api/sessions/end`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ count: 100 }),
    });
    const answer = await res.json();
    expect(answer.ended).toBeGreaterThanOrEqual(1);
    expect(await other.line(/^END,/)).toMatch(/^END,48,/);
    await other.closed;
    expect(answer.remaining).toBeLessThan(before);
    // The session is gone; a late bind for it hears why, in case the END did not reach it.
    expect((await tlcpPost(origin.url, 'bind_session', `LS_session=${id}\r\n`)).lines[0]).toMatch(/^CONERR,48,/);
  });

  it('constrain is answered with CONS (a bad bandwidth with REQERR 65); destroy ends the stream with END 31 and closes the socket', async () => {
    const s = new RawSocket(origin.url);
    const id = await s.create();
    const from = s.lines.length;
    s.send('control\r\nLS_reqId=1&LS_op=constrain&LS_requested_max_bandwidth=10');
    await s.line(/^REQOK,1$/, from);
    await s.line(/^CONS,10$/, from);
    for (const bad of ['0', '-1', 'lots', '1e9']) {
      s.send(`control\r\nLS_reqId=3&LS_op=constrain&LS_requested_max_bandwidth=${bad}`);
      await s.line(/^REQERR,3,65,/, s.lines.length);
    }
    s.send('control\r\nLS_reqId=4&LS_op=constrain&LS_requested_max_bandwidth=unlimited');
    await s.line(/^CONS,unlimited$/, from);
    s.send('control\r\nLS_reqId=2&LS_op=destroy&LS_close_socket=true&LS_cause=api');
    await s.line(/^REQOK,2$/, from);
    expect(await s.line(/^END,/, from)).toBe('END,31,destroyed by the client');
    await s.closed;
    expect((await tlcpPost(origin.url, 'bind_session', `LS_session=${id}\r\n`)).lines[0]).toMatch(/^CONERR,20,/);
  });

  it('a second bind on the same socket replaces its stream and keeps the socket', async () => {
    const s = new RawSocket(origin.url);
    const id = await s.create();
    const from = s.lines.length;
    s.send(`bind_session\r\nLS_session=${id}&LS_send_sync=false`);
    expect(await s.line(/^CONOK,/, from)).toMatch(new RegExp(`^CONOK,${id},`));
    s.send('control\r\nLS_reqId=9&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=rebound&LS_schema=v');
    await s.line(/^SUBOK,1,1,1$/, from);
    await publish(origin.url, TOKEN, { item: 'rebound', fields: { v: 'still here' } });
    await s.line(/^U,1,1,still here$/, from);
    s.close();
  });

  it('garbage frames close only their own socket', async () => {
    const s = new RawSocket(origin.url);
    await s.opened;
    s.send('hello there');
    await s.line(/^ERROR,65,/);
    await s.closed;
  });
});

describe('bystander', () => {
  it('kept receiving quotes through all of the above', async () => {
    const before = quotes.updates.length;
    await bystander.status(/^CONNECTED:WS-STREAMING$/, bystander.statuses.length - 1);
    await quotes.until((u) => u.length > before + 2, 'more quotes');
    expect(bystander.serverErrors).toEqual([]);
  });
});
