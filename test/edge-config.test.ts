import { describe, expect, it } from 'vitest';
import { ConfigError, configOf, domainOf, parseConfig } from '../worker/config.ts';

const SHARDS = [
  { id: 's1', url: 'http://127.0.0.1:8081' },
  { id: 's2', url: 'http://127.0.0.1:8082' },
];

describe('edge configuration', () => {
  it('accepts the local default and fills defaults', () => {
    const config = parseConfig(JSON.stringify(SHARDS), '[{"host":"*","modes":["path","session-id"]}]');
    expect([...config.shards.keys()]).toEqual(['s1', 's2']);
    expect(config.domains[0]).toMatchObject({ host: '*', shards: ['s1', 's2'], pathPrefix: 's', controlLink: 'edge', maxSessionMinutes: 0 });
  });

  it.each([
    ['SHARDS', 'not json', '[]', /SHARDS is not valid JSON/],
    ['SHARDS', '[{"id":"bad id","url":"http://x"}]', '[{"host":"*","modes":["path"]}]', /SHARDS\[0\]\.id/],
    ['SHARDS', '[{"id":"s1","url":"ftp://x"}]', '[{"host":"*","modes":["path"]}]', /SHARDS\[0\]\.url/],
    ['SHARDS', JSON.stringify([SHARDS[0], SHARDS[0]]), '[{"host":"*","modes":["path"]}]', /SHARDS\[1\]\.id: duplicate shard "s1"/],
    ['DOMAINS', JSON.stringify(SHARDS), '[{"host":"*","modes":["teleport"]}]', /DOMAINS\[0\]\.modes\[0\]/],
    ['DOMAINS', JSON.stringify(SHARDS), '[{"host":"a","modes":["path"]},{"host":"b","modes":["path"],"shards":["s9"]}]', /DOMAINS\[1\] \(b\): unknown shard "s9"/],
    ['DOMAINS', JSON.stringify(SHARDS), '[{"host":"a","modes":["host"]}]', /DOMAINS\[0\]\.shardHosts: mode "host" needs shardHosts/],
    ['DOMAINS', JSON.stringify(SHARDS), '[{"host":"a","modes":["partial"]}]', /DOMAINS\[0\]\.controlLink/],
    ['DOMAINS', JSON.stringify(SHARDS), '[{"host":"a","modes":["path"]},{"host":"A","modes":["path"]}]', /DOMAINS\[1\]\.host: duplicate domain "a"/],
  ])('rejects a bad %s naming the entry (%#)', (_var, shards, domains, message) => {
    expect(() => parseConfig(shards, domains)).toThrow(ConfigError);
    expect(() => parseConfig(shards, domains)).toThrow(message);
  });

  it('reads the registry timing from plain vars, strings or numbers, and names a bad one', () => {
    const domains = '[{"host":"*","modes":["path"]}]';
    expect(parseConfig(JSON.stringify(SHARDS), domains).timing).toEqual({ probeIntervalMs: 2_000, snapshotTtlMs: 1_000, moveRate: 10 });
    expect(parseConfig(JSON.stringify(SHARDS), domains, { PROBE_INTERVAL_MS: '500', MOVE_RATE: 3 }).timing).toMatchObject({ probeIntervalMs: 500, moveRate: 3 });
    expect(() => parseConfig(JSON.stringify(SHARDS), domains, { PROBE_INTERVAL_MS: '2s' })).toThrow(/^PROBE_INTERVAL_MS: .*expected number/);
    expect(() => parseConfig(JSON.stringify(SHARDS), domains, { MOVE_RATE: '0' })).toThrow(/^MOVE_RATE: /);
    expect(() => configOf({ SHARDS: JSON.stringify(SHARDS), DOMAINS: domains, SNAPSHOT_TTL_MS: '-1' })).toThrow(ConfigError);
  });

  it('takes container shards beside URL shards, and names a shard that is both, neither, or shares a container', () => {
    const domains = '[{"host":"*","modes":["path"]}]';
    const config = parseConfig(JSON.stringify([...SHARDS, { id: 'c1', container: 'origin-1', weight: 2 }]), domains);
    expect(config.shards.get('c1')).toEqual({ id: 'c1', container: 'origin-1', weight: 2 });
    expect(config.shards.get('s1')).toEqual({ ...SHARDS[0], weight: 1 });
    expect(() => parseConfig('[{"id":"c1","container":"c1","url":"http://x"}]', domains)).toThrow(/SHARDS\[0\]: a shard has either a "url" or a "container", not both or neither/);
    expect(() => parseConfig('[{"id":"c1"}]', domains)).toThrow(/SHARDS\[0\]: a shard has either/);
    expect(() => parseConfig('[{"id":"c1","container":"a b"}]', domains)).toThrow(/SHARDS\[0\]\.container: container names/);
    expect(() => parseConfig('[{"id":"c1","container":"x"},{"id":"c2","container":"x"}]', domains)).toThrow(/SHARDS\[1\]\.container: container "x" is named by two shards/);
  });

  it('refuses container shards when the Worker has no container binding, naming the shard and the binding', () => {
    const env = { SHARDS: JSON.stringify([...SHARDS, { id: 'c1', container: 'c1' }]), DOMAINS: '[{"host":"*","modes":["path"]}]' };
    expect(() => configOf(env)).toThrow(/SHARDS\[2\] \(c1\) is a container shard but the Worker has no ORIGIN_CONTAINER binding/);
    expect(configOf({ ...env, ORIGIN_CONTAINER: {} }).shards.get('c1')).toMatchObject({ container: 'c1' });
  });

  it('refuses a cookie domain without COOKIE_SECRET, naming it', () => {
    const env = { SHARDS: JSON.stringify(SHARDS), DOMAINS: '[{"host":"sticky.example.com","modes":["cookie"]}]' };
    expect(() => configOf(env)).toThrow(/DOMAINS\[0\] \(sticky\.example\.com\) uses mode "cookie" but the COOKIE_SECRET secret is not set/);
    expect(configOf({ ...env, COOKIE_SECRET: 'x'.repeat(16) }).domains[0].host).toBe('sticky.example.com');
  });

  it('matches hosts exactly, then by wildcard suffix, then the default domain', () => {
    const config = parseConfig(
      JSON.stringify(SHARDS),
      JSON.stringify([
        { host: 'push.example.com', modes: ['host'], shardHosts: { 'push1.example.com': 's1', 'push2.example.com': 's2' } },
        { host: '*.example.com', modes: ['cookie'] },
        { host: '*', modes: ['session-id'] },
      ]),
    );
    expect(domainOf(config, 'PUSH.example.com')?.domain.host).toBe('push.example.com');
    expect(domainOf(config, 'push2.example.com')).toMatchObject({ domain: { host: 'push.example.com' }, hostShard: 's2' });
    expect(domainOf(config, 'other.example.com')?.domain.host).toBe('*.example.com');
    expect(domainOf(config, 'example.org')?.domain.host).toBe('*');
    const strict = parseConfig(JSON.stringify(SHARDS), '[{"host":"push.example.com","modes":["path"]}]');
    expect(domainOf(strict, 'evil.example.org')).toBeUndefined();
  });
});
