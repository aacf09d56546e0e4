import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from './support/http.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `ip`'s stick table through the real edge: clients keyed by address (IPv6 by /64, addresses
 * normalised), the table spread over several Durable Objects, each bounded, and no object touched
 * for a request without a usable address. Origins issue opaque session ids, so a control request
 * reaches its session only through the table. Locally workerd believes a client-sent
 * CF-Connecting-IP, which lets each request play any address; what the objects hold is read from
 * their SQLite files in the edge's persistence directory.
 */

const secrets = newSecrets();
const origins: OriginHandle[] = [];
let edge: EdgeHandle;

beforeAll(async () => {
  const common = { EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, SESSION_ID_STYLE: 'opaque' };
  origins.push(...(await Promise.all(['p1', 'p2'].map((id) => startOrigin({ ...common, SHARD_ID: id })))));
  edge = await startEdge({
    secrets,
    shards: origins.map((o) => ({ id: o.shardId, url: o.url })),
    domains: [
      { host: 'ip.localhost', modes: ['ip'] },
      { host: 'small.localhost', modes: ['ip'], stickTables: 1, stickTableRows: 3 },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(origins.map((o) => o.stop()));
});

/** A POST to the edge under the domain's Host, from the address `ip` plays. */
const post = (host: string, ip: string, pathAndQuery: string, body: string) => httpRequest(edge.port, pathAndQuery, { host, body, headers: { 'cf-connecting-ip': ip } });

/** A polling create from `ip`: the session id and the shard that holds it (from SERVNAME). */
async function create(host: string, ip: string): Promise<{ session: string; shard: string }> {
  const { text } = await post(host, ip, '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=stick&LS_send_sync=false\r\n');
  const session = /^CONOK,([^,]+),/m.exec(text)?.[1];
  const shard = /^SERVNAME,edgepush (\S+)/m.exec(text)?.[1];
  if (!session || !shard) throw new Error(`create from ${ip} failed: ${text}`);
  return { session, shard };
}

/** A control request for `session` from `ip`: REQOK only where the edge found the session's shard. */
async function subscribe(host: string, ip: string, session: string): Promise<string> {
  const { text } = await post(
    host,
    ip,
    `/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${session}`,
    'LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=stick_item&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false\r\n',
  );
  return text.trim();
}

interface StickRow {
  readonly object: string;
  readonly key: string;
  readonly shard: string;
}

/** Every row of every StickTable object, read from the SQLite files workerd persists them in. */
function stickRows(): StickRow[] {
  // startEdge gives each edge a persistence directory of its own; objects of a class share a folder.
  const folder = readdirSync(edge.persistDir, { recursive: true, withFileTypes: true }).find((d) => d.isDirectory() && d.name.endsWith('-StickTable'));
  if (!folder) return [];
  const dir = folder.parentPath;
  const tables = folder.name;
  const rows: StickRow[] = [];
  for (const file of readdirSync(path.join(dir, tables)).filter((f) => f.endsWith('.sqlite'))) {
    const db = new DatabaseSync(path.join(dir, tables, file), { readOnly: true });
    try {
      const hasTable = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'stick'").get() as { n: number };
      if (hasTable.n === 0) continue;
      for (const r of db.prepare('SELECT key, shard FROM stick').all() as { key: string; shard: string }[]) rows.push({ object: file, key: r.key, shard: r.shard });
    } finally {
      db.close();
    }
  }
  return rows;
}

describe('client keys', () => {
  it('takes every address of one IPv6 /64, however written, as one client: one row, one shard, its sessions found from any of them', async () => {
    const addresses = [
      '2001:db8:aa:1::1',
      '2001:DB8:AA:1:0:0:0:2',
      '2001:0db8:00aa:0001:ffff:ffff:ffff:ffff',
      '2001:db8:aa:1:1234:5678:9abc:def0',
      '2001:db8:aa:1::a:b',
      '2001:db8:aa:1:8000::',
    ];
    const created = [];
    for (const ip of addresses) created.push(await create('ip.localhost', ip));
    expect(new Set(created.map((c) => c.shard)).size).toBe(1);
    // A client that rotated its privacy address since the create still reaches its session.
    expect(await subscribe('ip.localhost', '2001:db8:aa:1:dead:beef:0:1', created[0].session)).toBe('REQOK,1');
    const rows = stickRows().filter((r) => r.key.startsWith('2001:db8:aa:1'));
    expect(rows.map((r) => r.key)).toEqual(['2001:db8:aa:1::/64']);
    // Another /64 of the same /48 is another client.
    await create('ip.localhost', '2001:db8:aa:2::1');
    expect(stickRows().filter((r) => r.key.startsWith('2001:db8:aa:')).map((r) => r.key).sort()).toEqual(['2001:db8:aa:1::/64', '2001:db8:aa:2::/64']);
  });

  it('takes an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const { session } = await create('ip.localhost', '::ffff:192.0.2.77');
    expect(await subscribe('ip.localhost', '192.0.2.77', session)).toBe('REQOK,1');
    expect(stickRows().filter((r) => r.key.includes('192.0.2.77')).map((r) => r.key)).toEqual(['192.0.2.77']);
  });

  it('gives a request whose address is not one no association: it is balanced and the table is not touched', async () => {
    const before = stickRows().length;
    for (const junk of ['not-an-address', '10.1', '2001:db8::1::2', `${'1'.repeat(80)}`]) {
      await create('ip.localhost', junk);
      expect(await subscribe('ip.localhost', junk, 'no-such-session-id')).toMatch(/^REQERR,1,20,/);
    }
    expect(stickRows().length).toBe(before);
  });
});

describe('the table', () => {
  it('spreads a domain’s clients over several objects, one row per client', async () => {
    const addresses = Array.from({ length: 24 }, (_, i) => `198.51.100.${i + 1}`);
    for (const ip of addresses) await create('ip.localhost', ip);
    const rows = stickRows().filter((r) => r.key.startsWith('198.51.100.'));
    expect(rows.map((r) => r.key).sort()).toEqual([...addresses].sort());
    const objects = new Set(rows.map((r) => r.object));
    console.log(`stick table: 24 clients over ${objects.size} objects`);
    // 32 objects per domain: 24 keys in one object would be a 1 in 32^23 chance.
    expect(objects.size).toBeGreaterThan(4);
  });

  it('holds at most its capacity per object, dropping the associations due to expire soonest', async () => {
    const addresses = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5'];
    for (const ip of addresses) await create('small.localhost', ip);
    const rows = stickRows().filter((r) => r.key.startsWith('203.0.113.'));
    expect(rows.map((r) => r.key).sort()).toEqual(['203.0.113.3', '203.0.113.4', '203.0.113.5']);
  });
});
