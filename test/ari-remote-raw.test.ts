/**
 * Remote adapters played line by line over raw TCP against a real origin: the 1.9 dialect of the
 * Java, .NET and Python SDKs (one connection for a data adapter, their string encoding, 1.9 tables),
 * and hostile remotes (garbage, a line without end, silence, wrong credentials, a second remote),
 * none of which may cost the origin or its other clients anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { freePort } from './support/ports.ts';
import { RawRemote } from './support/raw-remote.ts';
import { REMOTE_PASSWORD, REMOTE_USER, writeAdaptersXml } from './support/remote-adapter.ts';
import { waitUntil } from './support/wait.ts';

const TIMEOUT_MS = 700;

function xml(metadataPort: number, dataPort: number): string {
  const common = `
    <param name="interface">127.0.0.1</param>
    <param name="auth">Y</param>
    <param name="auth.credentials.a.user">${REMOTE_USER}</param>
    <param name="auth.credentials.a.password">${REMOTE_PASSWORD}</param>
    <param name="timeout">${TIMEOUT_MS}</param>`;
  return `<?xml version="1.0"?>
<adapters_conf id="RAW">
  <metadata_provider>
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <param name="request_reply_port">${metadataPort}</param>${common}
  </metadata_provider>
  <data_provider name="JAVA">
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <param name="request_reply_port">${dataPort}</param>${common}
  </data_provider>
</adapters_conf>
`;
}

async function metric(origin: OriginHandle, name: string, adapter: string): Promise<number> {
  const text = await (await fetch(`${origin.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`adapter="${adapter}"`));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

describe('remote adapters over raw ARI', () => {
  let origin: OriginHandle;
  let metadataPort: number;
  let dataPort: number;
  const clients: WatchedClient[] = [];
  const remotes: RawRemote[] = [];
  const remote = async (port: number) => {
    const r = await RawRemote.connect(port);
    remotes.push(r);
    return r;
  };
  const client = (user: string) => {
    const c = createClient(origin.url, { adapterSet: 'RAW', transport: 'WS-STREAMING' });
    c.client.connectionDetails.setUser(user);
    clients.push(c);
    c.client.connect();
    return c;
  };

  beforeAll(async () => {
    [metadataPort, dataPort] = [await freePort(), await freePort()];
    origin = await startOrigin({ ADAPTERS_CONF: writeAdaptersXml(xml(metadataPort, dataPort)) });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const r of remotes) r.close();
    await origin?.stop();
  });

  it('speaks the 1.9 dialect of the Java, .NET and Python SDKs, notifications on the one data connection', async () => {
    const meta = await remote(metadataPort);
    const mpi = await meta.handshake('1.9.1');
    const initParams = Object.fromEntries(pairs(mpi.args));
    expect(initParams).toMatchObject({ 'ARI.version': '1.9.1', 'adapters_conf.id': 'RAW' });
    expect(initParams['proxy.instance_id']).toMatch(/^[0-9a-f-]{36}$/);
    const data = await remote(dataPort);
    const dpi = await data.handshake('1.9.1');
    expect(Object.fromEntries(pairs(dpi.args))).toMatchObject({ 'data_provider.name': 'JAVA' });

    const c = client('zoë smith');
    const nus = await meta.next('NUS');
    expect(nus.args.slice(0, 4)).toEqual(['S', 'zo%C3%AB%20smith', 'S', '#']);
    meta.send(`${nus.id}|NUS|D|0.0|B|1`);
    const nns = await meta.next('NNS');
    meta.send(`${nns.id}|NNS|I|0`);
    await c.status(/^CONNECTED:WS-STREAMING$/);

    const sub = watchSubscription(c.client, { mode: 'MERGE', items: ['a'], fields: ['f', 'g'], dataAdapter: 'JAVA', snapshot: 'yes' });
    const gis = await meta.next('GIS');
    meta.send(`${gis.id}|GIS|S|quote.1`);
    const gsc = await meta.next('GSC');
    meta.send(`${gsc.id}|GSC|S|f|S|g`);
    const [git, gui] = [await meta.next('GIT'), await meta.next('GUI')];
    meta.send(`${git.id}|GIT|I|10|D|0.0|M|RMDC`);
    meta.send(`${gui.id}|GUI|I|0|D|0.0|M|RMDC`);
    const nnt = await meta.next('NNT');
    // 1.9 tables: window, mode, group, data adapter, schema, first and last item, selector, items.
    expect(nnt.args.slice(4)).toEqual(['I', '1', 'M', 'M', 'S', 'a', 'S', 'JAVA', 'S', 'f%20g', 'I', '1', 'I', '1', 'S', '#', 'I', '1', 'S', 'quote.1']);
    meta.send(`${nnt.id}|NNT|B|0|B|0`);
    const subscribe = await data.next('SUB');
    expect(subscribe.args).toEqual(['S', 'quote.1']);
    // Notifications before the reply, on the same connection, in the 1.9 encoding (raw UTF-8 and spaces).
    data.send(`1700000000000|UD3|S|quote.1|S|${subscribe.id}|B|1|S|f|S|caffè ☕ 100%25 %2B|S|g|S|%23`);
    data.send(`1700000000001|EOS|S|quote.1|S|${subscribe.id}`);
    data.send(`${subscribe.id}|SUB|V`);
    data.send('KEEPALIVE');
    await sub.until((u) => u.length === 1, 'snapshot');
    expect(sub.updates[0]).toMatchObject({ snapshot: true, values: { f: 'caffè ☕ 100% +', g: '#' } });

    const outcome = sendMessage(c.client, 'hi there', 'seq');
    const num = await meta.next('NUM');
    meta.send(`${num.id}|NUM|V`);
    expect(await outcome).toEqual({ kind: 'processed', response: '' });

    // The remote ends the session (1.9 FST): the client hears the cause.
    meta.send(`100|FST|S|${encodeURIComponent(c.sessions.at(-1)!)}|I|-42|S|account%20closed`);
    const fst = await meta.next('FST');
    expect(fst).toMatchObject({ id: '100', args: ['V'] });
    await waitUntil(() => c.serverErrors.length > 0, 10_000, () => c.statuses.join(' > '));
    expect(c.serverErrors[0]).toEqual({ code: -42, message: 'account closed' });
    const usb = await data.next('USB');
    data.send(`${usb.id}|USB|V`);
  });

  it('survives garbage, a line without end, a silent remote and a reply to nothing, at the cost of that remote only', async () => {
    const healthy = async () => (await fetch(`${origin.url}/lightstreamer/healthcheck`)).ok;
    // The scripted metadata remote of the previous test is still connected: it now goes silent.
    const silent = client('bob');
    await waitUntil(() => silent.serverErrors.length > 0, 10_000, () => `no refusal after the timeout: ${silent.statuses.join(' > ')}`);
    expect(silent.serverErrors[0].code).toBe(66);
    expect(await metric(origin, 'edgepush_remote_adapter_request_timeouts_total', 'RAW')).toBeGreaterThanOrEqual(1);
    expect(await metric(origin, 'edgepush_remote_adapter_pending_requests', 'RAW')).toBe(0);

    const [meta] = remotes;
    meta.send('garbage without separators');
    meta.send('12345|NUS|D|0.0|B|1');
    meta.send('|||');
    meta.send('7|GIS|S|%E0%A4%A');
    await waitUntil(async () => (await metric(origin, 'edgepush_remote_adapter_protocol_errors_total', 'RAW')) >= 4, 5_000, () => 'protocol errors not counted');
    expect(meta.closed).toBe(false);
    expect(await healthy()).toBe(true);

    // Two megabytes without a line break: the connection is dropped, the origin is fine.
    meta.socket.write('x'.repeat(2 * 1024 * 1024));
    await waitUntil(() => meta.closed, 10_000, () => 'an endless line did not drop the connection');
    expect(await healthy()).toBe(true);
    await waitUntil(async () => (await metric(origin, 'edgepush_remote_adapter_connected', 'RAW')) === 0, 5_000, () => 'still connected');
  });

  it('refuses wrong credentials and a second remote, each with a CLOSE naming the reason', async () => {
    const intruder = await remote(metadataPort);
    intruder.send('1|RAC|S|user|S|remote-adapter|S|password|S|guess|S|enableClosePacket|S|true');
    const close = await intruder.next('CLOSE');
    expect(close.args).toEqual(['S', 'reason', 'S', 'bad%20credentials']);
    await waitUntil(() => intruder.closed, 5_000, () => 'intruder not disconnected');

    const first = await remote(metadataPort);
    await first.handshake('1.8.3');
    const second = await remote(metadataPort);
    expect((await second.next('CLOSE')).args.join('|')).toContain('another%20remote%20adapter%20is%20connected');
    await waitUntil(() => second.closed, 5_000, () => 'second remote not disconnected');
    expect(first.closed).toBe(false);
    expect(await metric(origin, 'edgepush_remote_adapter_refused_connections_total', 'RAW')).toBeGreaterThanOrEqual(2);
  });
});

function pairs(args: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 3 < args.length; i += 4) out.push([decodeURIComponent(args[i + 1]), decodeURIComponent(args[i + 3])]);
  return out;
}
