import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEdge, type LocalEdge } from '../scripts/local-edge.ts';
import { freePort } from './support/ports.ts';
import type { RosterEntry, Snapshot } from '../objects/registry-types.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Each Durable Object's lifecycle, inside workerd (Miniflare, the edge's own bindings), called the
 * way the Worker calls it: the registry's probes and its rulings on down and ejected shards, a
 * session pin's life, the stick table's associations, the session directory's hosts. Shards here are small HTTP servers whose
 * healthcheck the test controls: the registry's contract with a shard is that healthcheck alone.
 */

type Health = 'ok' | 'failing' | 'hung';

interface FakeShard {
  readonly entry: RosterEntry;
  health: Health;
  /** Health for the next probes only, then back to `health`. */
  next: Health[];
  close(): void;
}

async function fakeShard(id: string): Promise<FakeShard> {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    const health = req.url === '/lightstreamer/healthcheck' ? (shard.next.shift() ?? shard.health) : shard.health;
    if (health === 'hung') return;
    if (health === 'failing') return void res.writeHead(500).end('down\r\n');
    if (req.url === '/api/status') return void res.setHeader('content-type', 'application/json').end('{"sessions":0}');
    res.end('OK\r\n');
  });
  const shard: FakeShard = {
    entry: { id, url: `http://127.0.0.1:${port}`, weight: 1 },
    health: 'ok',
    next: [],
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return shard;
}

// The objects' RPC methods as the Worker calls them (objects/*.ts, which only workerd's types compile).
interface RegistrySettings {
  readonly probeIntervalMs: number;
  readonly moveRate: number;
  readonly originAdminToken: string | undefined;
}
interface Pin {
  readonly shard: string;
  readonly expiresAt: number;
}
type Stick = Pin;
interface RegistryStub {
  sync(roster: RosterEntry[], settings: RegistrySettings, counters: Record<string, number>): Promise<Snapshot>;
  reportFailure(id: string, timeouts: number): Promise<void>;
}
interface PinStub {
  pin(shard: string, ttlMs: number): Promise<Pin>;
  lookup(): Promise<Pin | null>;
  renew(boundAt: number, ttlMs: number): Promise<void>;
  release(boundAt: number, graceMs: number): Promise<void>;
  unpin(): Promise<void>;
}
interface StickStub {
  lookup(key: string): Promise<Stick | null>;
  stick(key: string, proposed: string, usable: string[], ttlMs: number, capacity: number): Promise<Stick>;
}
interface DirectoryStub {
  hostFor(directory: string, full: string | null): Promise<string>;
  hasRoom(host: string): Promise<void>;
}
interface Namespace<T> {
  idFromName(name: string): unknown;
  get(id: unknown): T;
}
interface Bindings {
  REGISTRY: Namespace<RegistryStub>;
  SESSION_PIN: Namespace<PinStub>;
  STICK_TABLE: Namespace<StickStub>;
  SESSION_DIRECTORY: Namespace<DirectoryStub>;
}

let edge: LocalEdge;
let env: Bindings;
const shards: FakeShard[] = [];
// Alarms far apart: the test drives the probes itself, through the isolates' failure reports.
const SETTINGS: RegistrySettings = { probeIntervalMs: 600_000, moveRate: 10, originAdminToken: undefined };

beforeAll(async () => {
  for (const id of ['a', 'b', 'c']) shards.push(await fakeShard(id));
  edge = await startLocalEdge({
    port: await freePort(),
    vars: { SHARDS: JSON.stringify(shards.map((s) => s.entry)), DOMAINS: '[{"host":"*","modes":["path"]}]' },
  });
  env = await edge.bindings<Bindings>();
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  for (const s of shards) s.close();
});

const object = <T>(ns: Namespace<T>, name: string): T => ns.get(ns.idFromName(name));

describe('ShardRegistry', () => {
  const registry = () => object(env.REGISTRY, 'registry-test');
  const view = async (id: string) => (await registry().sync(shards.map((s) => s.entry), SETTINGS, {})).shards.find((s) => s.id === id)!;

  it('trusts every shard of a new roster after its first probe', async () => {
    const snapshot = await registry().sync(shards.map((s) => s.entry), SETTINGS, {});
    expect(snapshot.shards.map((s) => [s.id, s.healthy, s.ejected])).toEqual([
      ['a', true, false],
      ['b', true, false],
      ['c', true, false],
    ]);
  });

  it('keeps a shard that fails one probe: the second probe, at once, decides', async () => {
    shards[0].next = ['failing'];
    await registry().reportFailure('a', 0);
    expect((await view('a')).healthy).toBe(true);
  });

  it('declares a shard down when two probes in a row fail, and takes it back after two good ones, in slow start', async () => {
    shards[0].health = 'hung';
    await registry().reportFailure('a', 0);
    expect(await view('a')).toMatchObject({ healthy: false, upSince: null });
    shards[0].health = 'ok';
    await registry().reportFailure('a', 0);
    expect((await view('a')).healthy).toBe(false);
    const before = Date.now();
    await registry().reportFailure('a', 0);
    const back = await view('a');
    expect(back.healthy).toBe(true);
    expect(back.upSince).toBeGreaterThanOrEqual(before);
  });

  it('ejects a shard whose requests keep timing out while its probes pass, never more than half the roster', async () => {
    await registry().reportFailure('b', 2);
    expect((await view('b')).ejected).toBe(false);
    await registry().reportFailure('b', 1);
    expect(await view('b')).toMatchObject({ healthy: true, ejected: true });
    // With b out, ejecting c too would leave one of three shards taking sessions.
    await registry().reportFailure('c', 3);
    expect((await view('c')).ejected).toBe(false);
  });
});

describe('SessionPin', () => {
  it('lives as long as its session: renewed by binds, shortened by a broken stream, deleted at the end', async () => {
    const pin = object(env.SESSION_PIN, 'opaque-session-1');
    expect((await pin.pin('a', 60_000)).shard).toBe('a');
    // Not before the pin's own bind time, which the object took while pinning.
    const created = Date.now();
    expect((await pin.lookup())?.shard).toBe('a');

    // A bind after the broken stream began renews the pin: that stream's release no longer counts.
    await pin.renew(created + 10, 60_000);
    await pin.release(created, 100);
    await new Promise((r) => setTimeout(r, 200));
    expect((await pin.lookup())?.shard).toBe('a');

    // The latest stream broke and no bind followed: the pin lasts its grace, then nothing routes.
    await pin.release(created + 10, 100);
    await waitUntil(async () => (await pin.lookup()) === null, 5_000, () => 'the pin outlived its grace');
  });

  it('is gone as soon as its session ends', async () => {
    const pin = object(env.SESSION_PIN, 'opaque-session-2');
    await pin.pin('b', 60_000);
    await pin.unpin();
    expect(await pin.lookup()).toBeNull();
  });
});

describe('StickTable', () => {
  it('keeps a live association whose shard is usable, replaces one whose shard is not, and forgets it at expiry', async () => {
    const table = object(env.STICK_TABLE, 'sticks-1');
    expect((await table.stick('192.0.2.1', 'a', ['a', 'b'], 60_000, 100)).shard).toBe('a');
    expect((await table.stick('192.0.2.1', 'b', ['a', 'b'], 60_000, 100)).shard).toBe('a');
    expect((await table.stick('192.0.2.1', 'b', ['b'], 60_000, 100)).shard).toBe('b');
    await table.stick('192.0.2.2', 'a', ['a'], 100, 100);
    await waitUntil(async () => (await table.lookup('192.0.2.2')) === null, 5_000, () => 'the association outlived its expiry');
  });

  it('holds at most its capacity, dropping the associations due to expire soonest', async () => {
    const table = object(env.STICK_TABLE, 'sticks-2');
    for (const [i, ttl] of [60_000, 10_000, 50_000].entries()) await table.stick(`198.51.100.${i}`, 'a', ['a'], ttl, 3);
    await table.stick('198.51.100.9', 'a', ['a'], 60_000, 3);
    expect(await table.lookup('198.51.100.1')).toBeNull();
    for (const key of ['198.51.100.0', '198.51.100.2', '198.51.100.9']) expect((await table.lookup(key))?.shard).toBe('a');
  });
});

describe('SessionDirectory', () => {
  it('sends creates to one host until it is full, then to a new one, and back to a host that has room again', async () => {
    const name = 'd.example@TST';
    const directory = object(env.SESSION_DIRECTORY, name);
    const first = await directory.hostFor(name, null);
    expect(first).toBe(`${name}#0`);
    expect(await directory.hostFor(name, null)).toBe(first);
    const second = await directory.hostFor(name, first);
    expect(second).toBe(`${name}#1`);
    // A refusal from a host no longer in use changes nothing for the others.
    expect(await directory.hostFor(name, first)).toBe(second);
    await directory.hasRoom(first);
    await directory.hasRoom(first);
    const third = await directory.hostFor(name, second);
    expect(third).toBe(first);
    // Both full: a new host, never a number used before.
    expect(await directory.hostFor(name, first)).toBe(`${name}#2`);
  });
});
