/**
 * ADAPTERS_CONF: adapters.xml files as Lightstreamer has them, and the start errors a bad one gives,
 * each naming the file, the line and the element.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../origin/config.ts';
import { BUILT_IN_SET_NAMES, createBuiltInSets } from '../origin/adapters/built-in-sets.ts';
import { startOrigin } from './support/origin.ts';
import { tlcpPost } from './support/tlcp-raw.ts';
import { selfSignedCertificate } from './support/certificates.ts';
import { freePort } from './support/ports.ts';
import { spawnManaged, tsNode, waitForHttp } from './support/process.ts';
import { startRemoteAdapter } from './support/remote-adapter.ts';
import { waitUntil } from './support/wait.ts';

function folder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'edgepush-conf-'));
}

function write(dir: string, name: string, xml: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, xml);
  return file;
}

const proxy = (cls: string, params: string) => `<adapter_class>${cls}</adapter_class>${params}`;

/** An adapter set with one metadata and one data provider; `at` marks line 3 onwards. */
function set(id: string, metadata: string, data: string, name = 'QUOTES'): string {
  return `<?xml version="1.0"?>
<adapters_conf id="${id}">
  <metadata_provider>
    ${metadata}
  </metadata_provider>
  <data_provider name="${name}">
    ${data}
  </data_provider>
</adapters_conf>
`;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.message);
  }
  throw new Error('accepted');
}

describe('ADAPTERS_CONF', () => {
  it('reads a Lightstreamer robust proxy adapters.xml, JVM-only elements and TLS tuning of tls N included', () => {
    const dir = folder();
    const file = write(
      dir,
      'adapters.xml',
      `<?xml version="1.0"?>
<!-- As the Node SDK's README has it, plus what the templates leave set. -->
<adapters_conf id="PROXY_NODE">
  <metadata_adapter_initialised_first>N</metadata_adapter_initialised_first>
  <metadata_provider>
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <classloader>log-enabled</classloader>
    <authentication_pool><max_size>10</max_size></authentication_pool>
    <param name="request_reply_port">8003</param>
    <param name="timeout">36000000</param>
    <param name="tls.remove_cipher_suites.1">_DHE_</param>
    <param name="tls.enforce_server_cipher_suite_preference">Y</param>
    <param name="tls.allow_protocol.1">TLSv1.2</param>
    <param name="remote_params_prefix">remote:</param>
    <param name="remote:region">eu</param>
    <param name="notify_user_on_disconnection">send_code</param>
    <param name="notify_user_disconnection_code">-10</param>
    <param name="notify_user_disconnection_msg">Remote Metadata Adapter unavailable</param>
    <param name="keepalive_timeout_millis">10000</param>
  </metadata_provider>
  <data_provider>
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <classloader>log-enabled</classloader>
    <data_adapter_pool><max_size>10</max_size><max_free>1</max_free></data_adapter_pool>
    <param name="request_reply_port">8001</param>
    <param name="notify_port">8002</param>
    <param name="timeout">36000000</param>
    <param name="events_recovery">enforce_snapshot</param>
    <param name="status_item">remote_adapter_status</param>
  </data_provider>
</adapters_conf>
`,
    );
    const { adapters } = loadConfig({ ADAPTERS_CONF: file });
    expect(adapters!.plans).toHaveLength(1);
    const [plan] = adapters!.plans;
    expect(plan.conf.id).toBe('PROXY_NODE');
    expect(plan.metadata).toMatchObject({
      kind: 'proxy',
      proxy: {
        robust: true,
        requestReplyPort: 8003,
        timeoutMs: 36000000,
        tls: null,
        remoteParams: new Map([['remote:region', 'eu']]),
        notifyUserOnDisconnection: 'send_code',
        notifyUserDisconnectionCode: -10,
        keepaliveTimeoutMs: 10000,
        keepaliveHintMs: 8000,
      },
    });
    expect(plan.data).toMatchObject([{ kind: 'proxy', provider: { name: 'DEFAULT' }, proxy: { requestReplyPort: 8001, notifyPort: 8002, eventsRecovery: 'enforce_snapshot', statusItem: 'remote_adapter_status' } }]);
  });

  it('reads a folder laid out like Lightstreamer\'s adapters/ and comma-separated files', () => {
    const dir = folder();
    const literal = proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', '<param name="distinct_snapshot_length">5</param>');
    write(dir, 'StockList/adapters.xml', set('STOCKS', literal, proxy('PROXY_FOR_REMOTE_ADAPTER', '<param name="request_reply_port">7001</param>')));
    write(dir, 'Chat/adapters.xml', set('CHAT', literal, proxy('edgepush.FeedAdapter', '')));
    fs.mkdirSync(path.join(dir, 'empty'));
    expect(loadConfig({ ADAPTERS_CONF: dir }).adapters!.plans.map((p) => p.conf.id)).toEqual(['CHAT', 'STOCKS']);
    const files = [path.join(dir, 'Chat/adapters.xml'), path.join(dir, 'StockList/adapters.xml')].join(', ');
    expect(loadConfig({ ADAPTERS_CONF: files }).adapters!.plans.map((p) => p.conf.id)).toEqual(['CHAT', 'STOCKS']);
  });

  it('names file, line and element for each mistake', () => {
    const dir = folder();
    const ok = proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', '');
    const cases: Array<[string, string, RegExp]> = [
      ['broken.xml', '<?xml version="1.0"?>\n<adapters_conf id="X">\n  <metadata_provider>\n</adapters_conf>\n', /broken\.xml:\d+ <adapters_conf>: not well-formed XML/],
      ['class.xml', set('X', ok, proxy('com.acme.QuoteAdapter', '')), /class\.xml:7 <adapter_class>: unknown adapter class com\.acme\.QuoteAdapter/],
      ['param.xml', set('X', ok, proxy('ROBUST_PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">7001</param>\n    <param name="request_reply_prot">7002</param>')), /param\.xml:9 <param name="request_reply_prot">: unknown param of ROBUST_PROXY_FOR_REMOTE_ADAPTER/],
      ['robust.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">7001</param>\n    <param name="events_recovery">use_snapshot</param>')), /robust\.xml:9 <param name="events_recovery">: only ROBUST_PROXY_FOR_REMOTE_ADAPTER has this param/],
      ['port.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '')), /port\.xml:6 <data_provider name="QUOTES">: request_reply_port is required/],
      ['range.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">70000</param>')), /range\.xml:8 <param name="request_reply_port">: must be between 1 and 65535/],
      ['element.xml', set('X', `${ok}\n    <pool_size>3</pool_size>`, proxy('edgepush.FeedAdapter', '')), /element\.xml:5 <pool_size>: unknown element of <metadata_provider>/],
      ['env.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">7001</param>\n    <param name="auth">Y</param>\n    <param name="auth.credentials.1.user">u</param>\n    <param name="auth.credentials.1.password">$env.NO_SUCH_SECRET_VAR</param>')), /env\.xml:11 <param name="auth.credentials.1.password">: names the environment variable NO_SUCH_SECRET_VAR, which is not set/],
      ['jks.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">7001</param>\n    <param name="tls">Y</param>\n    <param name="tls.keystore.type">JKS</param>')), /jks\.xml:10 <param name="tls.keystore.type">: keystore type JKS is not supported: use a PKCS12 keystore/],
      ['remote.xml', set('X', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '\n    <param name="request_reply_port">7001</param>\n    <param name="remote_host">adapters.example.com</param>')), /remote\.xml:9 <param name="remote_host">: edgepush listens for remote adapters/],
      ['name.xml', set('X', ok, proxy('edgepush.FeedAdapter', ''), 'a/b'), /name\.xml:6 <data_provider name="a\/b">: name "a\/b" must be/],
      ['root.xml', '<?xml version="1.0"?>\n<adapters id="X"/>\n', /root\.xml:2 <adapters>: the root element must be <adapters_conf id="…">/],
    ];
    for (const [name, xml, expected] of cases) {
      const problems = problemsOf({ ADAPTERS_CONF: write(dir, name, xml) });
      expect(problems.join('\n'), name).toMatch(expected);
    }
  });

  it('refuses two sets with one id, two proxies on one port, and a proxy on the HTTP listener\'s port', () => {
    const dir = folder();
    const ok = proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', '');
    const a = write(dir, 'a.xml', set('SAME', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '<param name="request_reply_port">7001</param>')));
    const b = write(dir, 'b.xml', set('SAME', ok, proxy('PROXY_FOR_REMOTE_ADAPTER', '<param name="request_reply_port">7001</param>')));
    const problems = problemsOf({ ADAPTERS_CONF: `${a},${b}` }).join('\n');
    expect(problems).toMatch(/b\.xml:1 <adapters_conf id="SAME">: the adapter set SAME is also defined in .*a\.xml/);
    expect(problemsOf({ ADAPTERS_CONF: a, PORT: '7001' }).join('\n')).toMatch(/port 7001 is also the listener default's/);
    const c = write(dir, 'c.xml', set('C', proxy('PROXY_FOR_REMOTE_ADAPTER', '<param name="request_reply_port">7005</param>'), proxy('PROXY_FOR_REMOTE_ADAPTER', '<param name="request_reply_port">7005</param>')));
    expect(problemsOf({ ADAPTERS_CONF: c }).join('\n')).toMatch(/c\.xml:7 <data_provider name="QUOTES">: port 7005 is also used by/);
    expect(problemsOf({ ADAPTERS_CONF: path.join(dir, 'missing.xml') }).join('\n')).toMatch(/missing\.xml cannot be read \(ENOENT\)/);
  });

  it('takes a PKCS12 keystore for TLS and keeps the protocol versions asked for', () => {
    const dir = folder();
    const { cert, key } = selfSignedCertificate('adapters.test');
    const p12 = path.join(dir, 'remote.p12');
    const openssl = spawnSync('openssl', ['pkcs12', '-export', '-in', cert, '-inkey', key, '-out', p12, '-passout', 'pass:secret']);
    expect(openssl.status, openssl.stderr.toString()).toBe(0);
    const file = write(
      dir,
      'adapters.xml',
      set(
        'TLS',
        proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', ''),
        proxy(
          'PROXY_FOR_REMOTE_ADAPTER',
          `<param name="request_reply_port">7001</param><param name="tls">Y</param><param name="tls.keystore.type">PKCS12</param>
           <param name="tls.keystore.keystore_file">remote.p12</param><param name="tls.keystore.keystore_password">secret</param>
           <param name="tls.allow_protocol.1">TLSv1.3</param>`,
        ),
      ),
    );
    const tls = (loadConfig({ ADAPTERS_CONF: file }).adapters!.plans[0].data[0] as { proxy: { tls: { minVersion: string; maxVersion: string; passphrase: string } } }).proxy.tls;
    expect(tls).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', passphrase: 'secret' });
  });

  it('stops an origin at start with the problem, for adapters.xml and for an adapter module that does not load', async () => {
    const dir = folder();
    const ok = proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', '');
    const cases: Array<[string, RegExp]> = [
      [write(dir, 'bad.xml', set('X', ok, proxy('NOT_A_CLASS', ''))), /ADAPTERS_CONF=.*bad\.xml:7 <adapter_class>: unknown adapter class NOT_A_CLASS/],
      [write(dir, 'module.xml', set('X', ok, proxy('./no-such-module.ts', ''))), /module\.xml:7 <adapter_class>: the module .*no-such-module\.ts does not load/],
      [write(dir, 'factory.xml', set('X', proxy('./not-an-adapter.mjs', ''), proxy('edgepush.FeedAdapter', ''))), /factory\.xml:4 <adapter_class>: the module .*not-an-adapter\.mjs exports no createMetadataAdapter\(params\) function/],
    ];
    write(dir, 'not-an-adapter.mjs', 'export const nothing = 1;\n');
    for (const [file, expected] of cases) {
      const proc = spawnManaged(...tsNode('origin/main.ts'), { ADAPTERS_CONF: file, PORT: String(await freePort()), LOG_LEVEL: 'warn' });
      await waitUntil(() => proc.child.exitCode !== null, 20_000, () => `origin did not stop:\n${proc.output()}`);
      expect(proc.child.exitCode).toBe(1);
      expect(proc.output()).toMatch(expected);
      await proc.stop();
    }
  });

  it('with a negative first_connection_timeout_millis, serves no client until the remote adapter first connects', async () => {
    const [data, notify, port] = [await freePort(), await freePort(), await freePort()];
    const file = write(
      folder(),
      'adapters.xml',
      set(
        'WAITS',
        proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', ''),
        proxy('ROBUST_PROXY_FOR_REMOTE_ADAPTER', `<param name="request_reply_port">${data}</param><param name="notify_port">${notify}</param><param name="interface">127.0.0.1</param><param name="first_connection_timeout_millis">-1</param>`),
      ),
    );
    const origin = spawnManaged(...tsNode('origin/main.ts'), { ADAPTERS_CONF: file, PORT: String(port), LOG_LEVEL: 'info' });
    const healthcheck = `http://127.0.0.1:${port}/lightstreamer/healthcheck`;
    try {
      await waitUntil(() => /waiting for the first connection of the remote adapter/.test(origin.output()) || origin.child.exitCode !== null, 20_000, () => `origin did not wait:\n${origin.output()}`);
      expect(origin.child.exitCode).toBeNull();
      await expect(fetch(healthcheck)).rejects.toThrow();
      const remote = await startRemoteAdapter({ data, notify });
      try {
        await waitForHttp(healthcheck, origin);
      } finally {
        await remote.stop();
      }
    } finally {
      await origin.stop();
    }
  });

  it('names built-in sets beside its files (builtin:<name>); without it every built-in set is served', () => {
    expect(createBuiltInSets().map((set) => set.name)).toEqual([...BUILT_IN_SET_NAMES]);
    expect(loadConfig({}).builtInAdapterSets).toEqual([...BUILT_IN_SET_NAMES]);
    const only = loadConfig({ ADAPTERS_CONF: 'builtin:CHAT, builtin:TEST' });
    expect([only.adapters, only.builtInAdapterSets]).toEqual([null, ['CHAT', 'TEST']]);
    expect(problemsOf({ ADAPTERS_CONF: 'builtin:NOPE' }).join('\n')).toMatch(/builtin:NOPE: no built-in adapter set NOPE \(there are DEMO, CHAT, .*TEST\)/);
    const dir = folder();
    const demo = write(dir, 'demo.xml', set('DEMO', proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', ''), proxy('edgepush.FeedAdapter', '')));
    expect(problemsOf({ ADAPTERS_CONF: `${demo},builtin:DEMO` }).join('\n')).toMatch(/adapter set DEMO is also the built-in set named by builtin:DEMO/);
  });

  it('serves the sets of its files and the built-in sets it names, and no other', async () => {
    const dir = folder();
    const quotes = write(dir, 'quotes.xml', set('QUOTES', proxy('com.lightstreamer.adapters.metadata.LiteralBasedProvider', ''), proxy('edgepush.FeedAdapter', '')));
    const origin = await startOrigin({ ADAPTERS_CONF: `${quotes},builtin:TEST` });
    try {
      const create = async (adapterSet: string) => (await tlcpPost(origin.url, 'create_session', `LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=${adapterSet}&LS_cid=conf\r\n`)).lines[0];
      expect(await create('QUOTES')).toMatch(/^CONOK,/);
      expect(await create('TEST')).toMatch(/^CONOK,/);
      expect(await create('DEMO')).toBe('CONERR,2,Requested Adapter Set not available');
    } finally {
      await origin.stop();
    }
  });
});
