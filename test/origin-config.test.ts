import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConfigError, ROUTES, loadConfig } from '../origin/config.ts';
import { selfSignedCertificate } from './support/certificates.ts';
import { freePort } from './support/ports.ts';
import { spawnManaged, tsNode } from './support/process.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => `${p.variable}=${p.value}: ${p.message}`);
  }
  throw new Error(`configuration ${JSON.stringify(env)} was accepted`);
}

describe('loadConfig', () => {
  it('defaults to one HTTP listener on 127.0.0.1:8080 serving every route, and shard s1', () => {
    expect(loadConfig({})).toEqual({
      listeners: [{ name: 'default', protocol: 'http', host: '127.0.0.1', port: 8080, proxyProtocol: false, routes: new Set(ROUTES) }],
      shardId: 's1',
      serverName: 'edgepush s1',
      controlLink: null,
      maxSessionDurationMs: 0,
      keepaliveMs: 5000,
      publishToken: null,
      adminToken: null,
      edgeSecret: null,
      redisUrl: null,
      logLevel: 'info',
      sessionIdStyle: 'shard',
      writeDelayMs: 0,
      maxQueuedBytesPerSession: 4 * 1024 * 1024,
      maxSubscriptionsPerSession: 1000,
      maxItemsPerSubscription: 1000,
      maxItemsPerSession: 10_000,
      maxSessions: 100_000,
      drain: { ratePerSecond: 100, graceMs: 600_000 },
      adapters: null,
      builtInAdapterSets: ['DEMO', 'CHAT', 'PORTFOLIODEMO', 'FULLPORTFOLIODEMO', 'JSONPORTFOLIODEMO', 'ROUNDTRIPDEMO', 'HELLOWORLD', 'AUTHDEMO', 'MESSENGER', 'F1Telemetry', 'TEST'],
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9090',
      HOST: '0.0.0.0',
      SHARD_ID: 'eu-west_2',
      SERVER_NAME: 'Push server 2',
      CONTROL_LINK: 'https://push2.example.com:8443/edge',
      MAX_SESSION_DURATION_MINUTES: '1.5',
      KEEPALIVE_MS: '2000',
      PUBLISH_TOKEN: 'publish-token-0123',
      ADMIN_TOKEN: 'admin-token-012345',
      EDGE_SECRET: 'edge-secret-012345',
      REDIS_URL: 'redis://:pw@127.0.0.1:6379/0',
      LOG_LEVEL: 'debug',
      SESSION_ID_STYLE: 'opaque',
      WRITE_DELAY_MS: '5',
      MAX_QUEUED_BYTES_PER_SESSION: '1048576',
      MAX_SUBSCRIPTIONS_PER_SESSION: '50',
      MAX_ITEMS_PER_SUBSCRIPTION: '200',
      MAX_ITEMS_PER_SESSION: '3000',
      MAX_SESSIONS: '2000',
      DRAIN_RATE: '25',
      DRAIN_GRACE_SECONDS: '30',
    });
    expect(config).toEqual({
      listeners: [{ name: 'default', protocol: 'http', host: '0.0.0.0', port: 9090, proxyProtocol: false, routes: new Set(ROUTES) }],
      shardId: 'eu-west_2',
      serverName: 'Push server 2',
      controlLink: 'https://push2.example.com:8443/edge',
      maxSessionDurationMs: 90_000,
      keepaliveMs: 2000,
      publishToken: 'publish-token-0123',
      adminToken: 'admin-token-012345',
      edgeSecret: 'edge-secret-012345',
      redisUrl: 'redis://:pw@127.0.0.1:6379/0',
      logLevel: 'debug',
      sessionIdStyle: 'opaque',
      writeDelayMs: 5,
      maxQueuedBytesPerSession: 1024 * 1024,
      maxSubscriptionsPerSession: 50,
      maxItemsPerSubscription: 200,
      maxItemsPerSession: 3000,
      maxSessions: 2000,
      drain: { ratePerSecond: 25, graceMs: 30_000 },
      adapters: null,
      builtInAdapterSets: ['DEMO', 'CHAT', 'PORTFOLIODEMO', 'FULLPORTFOLIODEMO', 'JSONPORTFOLIODEMO', 'ROUNDTRIPDEMO', 'HELLOWORLD', 'AUTHDEMO', 'MESSENGER', 'F1Telemetry', 'TEST'],
    });
  });

  it('treats empty variables as unset, so "FOO=" in a compose file means the default', () => {
    const config = loadConfig({ PORT: '', EDGE_SECRET: '', CONTROL_LINK: ' ', SERVER_NAME: '' });
    expect(config.listeners[0].port).toBe(8080);
    expect(config.edgeSecret).toBeNull();
    expect(config.controlLink).toBeNull();
    expect(config.serverName).toBe('edgepush s1');
  });

  it.each([
    ['PORT', '70000', 'PORT="70000": must be between 1 and 65535'],
    ['PORT', '80a', 'PORT="80a": must be a whole number'],
    ['HOST', 'not a host', 'HOST="not a host": must be an IP address or a host name'],
    ['SHARD_ID', 'a.b', 'SHARD_ID="a.b": must be 1-32 characters of A-Z a-z 0-9 _ -'],
    ['SHARD_ID', 'x'.repeat(33), `SHARD_ID="${'x'.repeat(33)}": must be 1-32 characters of A-Z a-z 0-9 _ -`],
    ['SERVER_NAME', 'a,b', 'SERVER_NAME="a,b": must not contain commas or control characters'],
    ['MAX_SESSION_DURATION_MINUTES', '-1', 'MAX_SESSION_DURATION_MINUTES="-1": must be a non-negative number of minutes (0 = unlimited)'],
    ['KEEPALIVE_MS', '10', 'KEEPALIVE_MS="10": must be between 100 and 3600000'],
    ['WRITE_DELAY_MS', '5000', 'WRITE_DELAY_MS="5000": must be between 0 and 1000'],
    ['MAX_QUEUED_BYTES_PER_SESSION', '1000', 'MAX_QUEUED_BYTES_PER_SESSION="1000": must be between 65536 and 1073741824'],
    ['MAX_QUEUED_BYTES_PER_SESSION', '4MB', 'MAX_QUEUED_BYTES_PER_SESSION="4MB": must be a whole number'],
    ['MAX_SUBSCRIPTIONS_PER_SESSION', '0', 'MAX_SUBSCRIPTIONS_PER_SESSION="0": must be between 1 and 1000000'],
    ['MAX_ITEMS_PER_SUBSCRIPTION', '2000000', 'MAX_ITEMS_PER_SUBSCRIPTION="2000000": must be between 1 and 100000'],
    ['MAX_ITEMS_PER_SESSION', 'many', 'MAX_ITEMS_PER_SESSION="many": must be a whole number'],
    ['MAX_SESSIONS', '-5', 'MAX_SESSIONS="-5": must be a whole number'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
    ['SESSION_ID_STYLE', 'uuid', 'SESSION_ID_STYLE="uuid": must be shard or opaque'],
    ['CONTROL_LINK', 'ftp://push.example.com', 'CONTROL_LINK="ftp://push.example.com": the scheme must be http or https'],
    ['CONTROL_LINK', 'push.example.com,other', 'CONTROL_LINK="push.example.com,other": must not contain commas, spaces or control characters'],
    ['CONTROL_LINK', 'push.example.com?x=1', 'CONTROL_LINK="push.example.com?x=1": must not carry credentials, a query or a fragment'],
    ['CONTROL_LINK', 'push.example.com:99999', 'CONTROL_LINK="push.example.com:99999": must be host[:port][/path] or an http(s) URL'],
  ])('rejects %s=%j naming the variable and the value', (variable, value, expected) => {
    expect(problemsOf({ [variable]: value })).toEqual([expected]);
  });

  it.each(['push1.example.com', 'push1.example.com:8443', 'push1.example.com/shard1', '10.0.0.1:80/p', 'http://push1.example.com'])(
    'accepts the control link %s',
    (link) => {
      expect(loadConfig({ CONTROL_LINK: link }).controlLink).toBe(link);
    },
  );

  it('never prints secrets, only that they are wrong', () => {
    const problems = problemsOf({
      EDGE_SECRET: 'top secret, do not share',
      PUBLISH_TOKEN: 'pub\ttoken\tnumber\tone',
      ADMIN_TOKEN: 'admin token for tests',
      REDIS_URL: 'http://:hunter2@127.0.0.1',
    });
    expect(problems).toEqual([
      'PUBLISH_TOKEN=<hidden, 20 characters>: must be printable ASCII without spaces',
      'ADMIN_TOKEN=<hidden, 21 characters>: must be printable ASCII without spaces',
      'EDGE_SECRET=<hidden, 24 characters>: must be printable ASCII without spaces',
      'REDIS_URL=<hidden, 25 characters>: must be a redis:// or rediss:// URL',
    ]);
    expect(problems.join()).not.toMatch(/secret|hunter2|token/);
  });

  it('reports every bad variable at once, in a message fit for the terminal', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: '0', SHARD_ID: 'bad id' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'invalid configuration:\n  PORT="0": must be between 1 and 65535\n  SHARD_ID="bad id": must be 1-32 characters of A-Z a-z 0-9 _ -',
    );
  });
});

describe('LISTENERS', () => {
  const one = selfSignedCertificate('push1.example.com');
  const two = selfSignedCertificate('push.example.com');

  it('reads the S + CR pair of guide option 2.B.1.4', () => {
    const config = loadConfig({
      HOST: '127.0.0.2',
      LISTENERS: JSON.stringify([
        { name: 'S', protocol: 'http', port: 8080, proxyProtocol: true, routes: ['tlcp', 'api', 'metrics'] },
        {
          name: 'CR',
          protocol: 'https',
          host: '127.0.0.1',
          port: 8443,
          certificates: [
            { cert: one.cert, key: one.key, serverName: 'Push1.Example.com' },
            { cert: two.cert, key: two.key },
          ],
        },
      ]),
    });
    expect(config.listeners).toEqual([
      { name: 'S', protocol: 'http', host: '127.0.0.2', port: 8080, proxyProtocol: true, routes: new Set(['tlcp', 'api', 'metrics']) },
      {
        name: 'CR',
        protocol: 'https',
        host: '127.0.0.1',
        port: 8443,
        proxyProtocol: false,
        // No routes named, on a loopback interface: everything, as a local cluster needs.
        routes: new Set(ROUTES),
        certificates: [
          { cert: one.cert, key: one.key, serverName: 'push1.example.com' },
          { cert: two.cert, key: two.key },
        ],
      },
    ]);
  });

  it.each([
    ['127.0.0.1', ROUTES],
    ['10.1.2.3', ROUTES],
    ['172.31.0.9', ROUTES],
    ['192.168.1.1', ROUTES],
    ['::1', ROUTES],
    ['fd00::7', ROUTES],
    ['localhost', ROUTES],
    // Where clients reach it directly (partial mode's CR listener): TLCP only.
    ['200.0.0.1', ['tlcp']],
    ['172.32.0.1', ['tlcp']],
    ['0.0.0.0', ['tlcp']],
    ['::', ['tlcp']],
    ['2001:db8::1', ['tlcp']],
    ['push1.example.com', ['tlcp']],
  ])('a listener on %s that names no routes serves %j', (host, routes) => {
    const config = loadConfig({ LISTENERS: JSON.stringify([{ protocol: 'http', host, port: 80 }]) });
    expect(config.listeners[0].routes).toEqual(new Set(routes));
  });

  it('names unnamed listeners by protocol and position', () => {
    const config = loadConfig({ LISTENERS: '[{"protocol":"http","port":1},{"protocol":"http","port":2}]' });
    expect(config.listeners.map((l) => l.name)).toEqual(['http-0', 'http-1']);
  });

  it.each([
    ['not json', [/^LISTENERS=not json: is not valid JSON/]],
    ['{}', [/^LISTENERS={}: .*expected array/]],
    ['[]', ['LISTENERS=[]: must list at least one listener']],
    ['[{"protocol":"ftp","port":21}]', ['LISTENERS[0].protocol="ftp": protocol must be "http" or "https"']],
    ['[{"protocol":"http","port":70000}]', ['LISTENERS[0].port=70000: must be between 1 and 65535']],
    ['[{"protocol":"http","port":"80"}]', ['LISTENERS[0].port="80": must be a number']],
    ['[{"protocol":"http","port":80,"host":"a b"}]', ['LISTENERS[0].host="a b": must be an IP address or a host name']],
    ['[{"protocol":"http","port":80,"proxyProtocol":"yes"}]', ['LISTENERS[0].proxyProtocol="yes": must be true or false']],
    ['[{"protocol":"http","port":80,"proxy_protocol":true}]', [/^LISTENERS\[0\]=.*Unrecognized key: "proxy_protocol"/]],
    ['[{"protocol":"https","port":443,"certificates":[]}]', ['LISTENERS[0].certificates=[]: an https listener needs at least one certificate']],
    ['[{"protocol":"http","port":80,"certificates":[]}]', [/^LISTENERS\[0\]=.*Unrecognized key: "certificates"/]],
    ['[{"protocol":"http","port":80,"routes":["tlcp","admin"]}]', ['LISTENERS[0].routes[1]="admin": must be one of tlcp, api, metrics, dashboard, demo']],
    ['[{"protocol":"http","port":80,"routes":"api"}]', ['LISTENERS[0].routes="api": must be a list of routes']],
    [
      '[{"name":"A","protocol":"http","port":80},{"name":"A","protocol":"http","port":80}]',
      ['LISTENERS[1].name="A": is used by another listener', 'LISTENERS[1]=127.0.0.1:80: is also the address of listener "A"'],
    ],
  ] as const)('rejects %s', (value, expected) => {
    const problems = problemsOf({ LISTENERS: value });
    expect(problems).toHaveLength(expected.length);
    expected.forEach((e, i) => (typeof e === 'string' ? expect(problems[i]).toBe(e) : expect(problems[i]).toMatch(e)));
  });

  it('checks certificate files at start: missing, unreadable, not PEM, key of another certificate', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgepush-config-'));
    const garbage = path.join(dir, 'garbage.pem');
    fs.writeFileSync(garbage, 'not a certificate');
    const unreadable = path.join(dir, 'unreadable.pem');
    fs.copyFileSync(one.key, unreadable);
    fs.chmodSync(unreadable, 0o000);
    const https = (certificates: object[]) => JSON.stringify([{ protocol: 'https', port: 443, certificates }]);
    const missing = path.join(dir, 'missing.pem');

    expect(problemsOf({ LISTENERS: https([{ cert: missing, key: one.key }]) })).toEqual([
      `LISTENERS[0].certificates[0]="${missing}": cert file cannot be read (ENOENT)`,
    ]);
    // root reads anything, so the permission check only means something for other users
    if (process.getuid?.() !== 0) {
      expect(problemsOf({ LISTENERS: https([{ cert: one.cert, key: unreadable }]) })).toEqual([
        `LISTENERS[0].certificates[0]="${unreadable}": key file cannot be read (EACCES)`,
      ]);
    }
    expect(problemsOf({ LISTENERS: https([{ cert: garbage, key: one.key }]) })[0]).toMatch(
      /^LISTENERS\[0\]\.certificates\[0\]=".*garbage\.pem \+ .*key\.pem": not a usable PEM certificate and key/,
    );
    expect(problemsOf({ LISTENERS: https([{ cert: one.cert, key: two.key }]) })[0]).toMatch(
      /not a usable PEM certificate and key \(.*key values mismatch\)/,
    );
  });

  it('rejects two default certificates or one server name twice on a listener', () => {
    const problems = problemsOf({
      LISTENERS: JSON.stringify([
        {
          protocol: 'https',
          port: 443,
          certificates: [
            { cert: one.cert, key: one.key },
            { cert: two.cert, key: two.key },
            { cert: one.cert, key: one.key, serverName: '*.example.com' },
            { cert: two.cert, key: two.key, serverName: '*.EXAMPLE.com' },
          ],
        },
      ]),
    });
    expect(problems).toEqual([
      'LISTENERS[0].certificates[3].serverName="*.example.com": appears twice on this listener',
      'LISTENERS[0].certificates=2 without serverName: at most one certificate may be the default',
    ]);
  });
});

describe('npm run origin', () => {
  it('exits 1 before listening, printing every bad variable, and never a secret', async () => {
    const port = await freePort();
    const origin = spawnManaged(...tsNode('origin/main.ts'), {
      PORT: String(port),
      SHARD_ID: 'bad shard',
      EDGE_SECRET: 'not so secret at all',
      LISTENERS: JSON.stringify([{ protocol: 'https', port, certificates: [{ cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' }] }]),
    });
    const [code] = await once(origin.child, 'exit');
    expect(code).toBe(1);
    expect(origin.output()).toBe(
      [
        'invalid configuration:',
        '  SHARD_ID="bad shard": must be 1-32 characters of A-Z a-z 0-9 _ -',
        '  LISTENERS[0].certificates[0]="/nonexistent/cert.pem": cert file cannot be read (ENOENT)',
        '  EDGE_SECRET=<hidden, 20 characters>: must be printable ASCII without spaces',
        '',
      ].join('\n'),
    );
    await origin.stop();
  });
});
