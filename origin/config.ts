/**
 * The origin's configuration, read once at start from environment variables.
 *
 * Everything is validated before anything listens: an operator who mistypes a variable gets one
 * message naming every bad variable and its value, instead of a server that half works. Secrets are
 * never echoed in those messages, since start-up errors end up in shared logs.
 *
 * LISTENERS replaces the single HTTP listener on HOST:PORT with the guide's server blocks, e.g.
 * option 2.B.1.4 (S from the balancer on a private interface, CR straight to this server):
 *
 *   [{"name":"S","protocol":"http","host":"10.0.0.1","port":80},
 *    {"name":"CR","protocol":"https","host":"200.0.0.1","port":443,
 *     "certificates":[{"cert":"push1.pem","key":"push1.key","serverName":"push1.mycompany.com"},
 *                     {"cert":"wildcard.pem","key":"wildcard.key"}]}]
 *
 * with CONTROL_LINK=push1.mycompany.com. `host` defaults to HOST; `proxyProtocol: true` makes a
 * listener require a PROXY v1/v2 header from a layer-4 balancer on every connection. `routes` says
 * what a listener serves besides the healthcheck. A listener of LISTENERS that names none serves
 * everything on a loopback or private interface (a local cluster, the S listener behind the
 * balancer) and TLCP only on any other (a public address, all interfaces, a host name), so partial
 * mode's public CR listener never exposes the API, metrics or dashboard by omission. The single
 * HOST:PORT listener serves everything.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { SHARD_ID_PATTERN } from '../protocol/session-id.ts';
import { BUILT_IN_PREFIX, BUILT_IN_SET_NAMES } from './adapters/built-in-sets.ts';
import { checkAdaptersConfs, type CheckedAdapters } from './adapters/config/adapter-sets.ts';
import { AdaptersConfError, adaptersConfFiles, describeProblem, readAdaptersConfs } from './adapters/config/adapters-xml.ts';

/** One certificate of an HTTPS listener; PEM files, resolved against the working directory. */
/**
 * What a listener may serve, besides the healthcheck every listener answers (balancers probe it).
 * `tlcp`: the TLCP requests and WebSockets; `api`: `/api/*` (status, publish, admin); `metrics`:
 * `/metrics`; `dashboard`: `/dashboard`; `demo`: the demo page and its assets.
 */
export const ROUTES = ['tlcp', 'api', 'metrics', 'dashboard', 'demo'] as const;
export type Route = (typeof ROUTES)[number];
/** What a listener of LISTENERS that names no routes serves where clients reach it directly. */
const PUBLIC_LISTENER_ROUTES: readonly Route[] = ['tlcp'];

/** Interfaces only this machine or a private network reach. */
const PRIVATE_NETWORKS = new net.BlockList();
for (const [address, prefix] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16]] as const) {
  PRIVATE_NETWORKS.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE_NETWORKS.addSubnet(address, prefix, 'ipv6');

function isPrivateInterface(host: string): boolean {
  if (host === 'localhost') return true;
  const family = net.isIP(host);
  return family !== 0 && PRIVATE_NETWORKS.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

export interface CertificateConfig {
  readonly cert: string;
  readonly key: string;
  /**
   * Host name (or `*.domain` wildcard) whose TLS handshakes get this certificate through SNI. The
   * certificate without one (or else the first) also serves clients that send no SNI at all.
   */
  readonly serverName?: string;
}

interface ListenerBase {
  /** For logs and error messages, like the `name` attribute of the guide's server blocks. */
  readonly name: string;
  /** Interface to bind, like `<listening_interface>`. */
  readonly host: string;
  readonly port: number;
  /** Expect a PROXY protocol v1/v2 header first on every connection (layer-4 balancers). */
  readonly proxyProtocol: boolean;
  readonly routes: ReadonlySet<Route>;
}

/** An `<http_server>` block. */
export interface HttpListenerConfig extends ListenerBase {
  readonly protocol: 'http';
}

/** An `<https_server>` block. */
export interface HttpsListenerConfig extends ListenerBase {
  readonly protocol: 'https';
  readonly certificates: readonly CertificateConfig[];
}

export type ListenerConfig = HttpListenerConfig | HttpsListenerConfig;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * `shard`: session ids name the shard, so the edge routes without a lookup (protocol/session-id.ts).
 * `opaque`: ids reveal nothing; routing then relies on control links or sticky cookies.
 */
export type SessionIdStyle = 'shard' | 'opaque';

export interface OriginConfig {
  /** From LISTENERS, or the single HTTP listener on HOST:PORT. Never empty. */
  readonly listeners: readonly ListenerConfig[];
  readonly shardId: string;
  /** Announced in SERVNAME. */
  readonly serverName: string;
  /** CONOK's control link, `host[:port][/path]` or an http(s) URL; null announces `*`. */
  readonly controlLink: string | null;
  /** Sessions older than this end with END 48 so clients reconnect elsewhere; 0 = never. */
  readonly maxSessionDurationMs: number;
  /** CONOK's keepalive: silence after which a stream gets a PROBE. */
  readonly keepaliveMs: number;
  /** Bearer token of `POST /api/publish`; null = the publish API refuses everything. */
  readonly publishToken: string | null;
  /** Bearer token of the admin endpoints; null = they refuse everything. */
  readonly adminToken: string | null;
  /** Proves the edge's forwarded-address headers; null = those headers are ignored. */
  readonly edgeSecret: string | null;
  /** null = the embedded in-process bus. */
  readonly redisUrl: string | null;
  readonly logLevel: LogLevel;
  readonly sessionIdStyle: SessionIdStyle;
  /** How long a session batches notifications before writing them; 0 = write at once. */
  readonly writeDelayMs: number;
  /** Bytes of updates queued for one session that cannot take them now; beyond, updates are lost (OV). */
  readonly maxQueuedBytesPerSession: number;
  /** Subscriptions one session may hold; more are refused with REQERR (onSubscriptionError). */
  readonly maxSubscriptionsPerSession: number;
  /** Items one subscription may name (its group); more are refused with REQERR. */
  readonly maxItemsPerSubscription: number;
  /** Items all the subscriptions of one session may name together; beyond, adds are refused with REQERR. */
  readonly maxItemsPerSession: number;
  /** Sessions this origin holds at most; more creates get CONERR 5 and the client retries. */
  readonly maxSessions: number;
  /** What SIGTERM does (session/drain.ts): sessions moved per second, and the time allowed for all of them. */
  readonly drain: { readonly ratePerSecond: number; readonly graceMs: number };
  /** The adapter sets of ADAPTERS_CONF, checked; null: the built-in DEMO set. */
  readonly adapters: CheckedAdapters | null;
  /** The built-in adapter sets served (adapters/built-in-sets.ts): all without ADAPTERS_CONF, else those it names. */
  readonly builtInAdapterSets: readonly string[];
}

export interface ConfigProblem {
  /** The environment variable, with a path into it for LISTENERS (`LISTENERS[1].port`). */
  readonly variable: string;
  /** The offending value as printed, or a placeholder for secrets. */
  readonly value: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.variable}=${p.value}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// Anything the wire protocol could not carry inside one comma-separated line.
const UNSAFE_IN_LINE = /[,\x00-\x1f\x7f]/;
const SECRET_SHAPE = /^[\x21-\x7e]+$/;

const isHost = (v: string) => net.isIP(v) !== 0 || HOSTNAME.test(v);

const host = z.string().refine(isHost, { error: 'must be an IP address or a host name' });
const port = z
  .number({ error: 'must be a number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be between 1 and 65535' })
  .max(65535, { error: 'must be between 1 and 65535' });
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().min(min, { error: `must be between ${min} and ${max}` }).max(max, { error: `must be between ${min} and ${max}` }));

const serverName = z
  .string()
  .transform((v) => v.toLowerCase())
  .refine((v) => HOSTNAME.test(v.startsWith('*.') ? v.slice(2) : v), {
    error: 'must be a host name or a *.domain wildcard',
  });

const certificate = z.strictObject({
  cert: z.string().min(1, { error: 'must be a file path' }),
  key: z.string().min(1, { error: 'must be a file path' }),
  serverName: serverName.optional(),
});

const listenerBase = {
  name: z.string().min(1).optional(),
  host: host.optional(),
  port,
  proxyProtocol: z.boolean({ error: 'must be true or false' }).default(false),
  routes: z.array(z.enum(ROUTES, { error: `must be one of ${ROUTES.join(', ')}` }), { error: 'must be a list of routes' }).optional(),
};

const listener = z.discriminatedUnion(
  'protocol',
  [
    z.strictObject({ ...listenerBase, protocol: z.literal('http') }),
    z.strictObject({
      ...listenerBase,
      protocol: z.literal('https'),
      certificates: z.array(certificate).min(1, { error: 'an https listener needs at least one certificate' }),
    }),
  ],
  { error: 'protocol must be "http" or "https"' },
);

const listeners = z.array(listener).min(1, { error: 'must list at least one listener' });

const controlLink = z.string().superRefine((v, ctx) => {
  const problem = controlLinkProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Shorter secrets are within reach of guessing; each one publishes, ends sessions or forges client addresses. */
const MIN_SECRET_LENGTH = 16;
const token = z
  .string()
  .regex(SECRET_SHAPE, { error: 'must be printable ASCII without spaces' })
  .min(MIN_SECRET_LENGTH, { error: `must be at least ${MIN_SECRET_LENGTH} characters` });

/**
 * Reads and validates the configuration; throws a `ConfigError` listing every bad variable.
 * Empty variables count as unset, as shells and compose files produce them for "no value".
 */
export function loadConfig(env: Env = process.env): OriginConfig {
  const problems: ConfigProblem[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };
  function read<T>(name: string, schema: z.ZodType<T, string>, fallback: T, secret = false): T {
    const v = raw(name);
    if (v === undefined) return fallback;
    const parsed = schema.safeParse(v);
    if (parsed.success) return parsed.data;
    const shown = secret ? `<hidden, ${v.length} characters>` : JSON.stringify(v);
    for (const issue of parsed.error.issues) problems.push({ variable: name, value: shown, message: issue.message });
    return fallback;
  }

  const defaultHost = read('HOST', host, '127.0.0.1');
  const defaultPort = read('PORT', wholeNumber(1, 65535), 8080);
  const shardId = read('SHARD_ID', z.string().regex(SHARD_ID_PATTERN, { error: 'must be 1-32 characters of A-Z a-z 0-9 _ -' }), 's1');
  const serverNameValue = read(
    'SERVER_NAME',
    z.string().refine((v) => !UNSAFE_IN_LINE.test(v), { error: 'must not contain commas or control characters' }),
    `edgepush ${shardId}`,
  );
  const config: OriginConfig = {
    listeners: readListeners(raw('LISTENERS'), defaultHost, defaultPort, problems),
    shardId,
    serverName: serverNameValue,
    controlLink: read('CONTROL_LINK', controlLink, null),
    maxSessionDurationMs:
      read(
        'MAX_SESSION_DURATION_MINUTES',
        z.string().regex(/^\d+(\.\d+)?$/, { error: 'must be a non-negative number of minutes (0 = unlimited)' }).transform(Number),
        0,
      ) * 60_000,
    keepaliveMs: read('KEEPALIVE_MS', wholeNumber(100, 3_600_000), 5000),
    publishToken: read('PUBLISH_TOKEN', token, null, true),
    adminToken: read('ADMIN_TOKEN', token, null, true),
    edgeSecret: read('EDGE_SECRET', token, null, true),
    redisUrl: read(
      'REDIS_URL',
      z.string().refine((v) => /^rediss?:$/.test(URL.parse(v)?.protocol ?? ''), { error: 'must be a redis:// or rediss:// URL' }),
      null,
      // A Redis URL usually carries its password.
      true,
    ),
    logLevel: read('LOG_LEVEL', z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }), 'info'),
    sessionIdStyle: read('SESSION_ID_STYLE', z.enum(['shard', 'opaque'], { error: 'must be shard or opaque' }), 'shard'),
    writeDelayMs: read('WRITE_DELAY_MS', wholeNumber(0, 1000), 0),
    maxQueuedBytesPerSession: read('MAX_QUEUED_BYTES_PER_SESSION', wholeNumber(64 * 1024, 1024 ** 3), 4 * 1024 * 1024),
    maxSubscriptionsPerSession: read('MAX_SUBSCRIPTIONS_PER_SESSION', wholeNumber(1, 1_000_000), 1000),
    // Item positions travel in U lines and key the per-event line cache (item-hub.ts): below 2^20.
    maxItemsPerSubscription: read('MAX_ITEMS_PER_SUBSCRIPTION', wholeNumber(1, 100_000), 1000),
    maxItemsPerSession: read('MAX_ITEMS_PER_SESSION', wholeNumber(1, 10_000_000), 10_000),
    maxSessions: read('MAX_SESSIONS', wholeNumber(1, 10_000_000), 100_000),
    drain: {
      ratePerSecond: read('DRAIN_RATE', wholeNumber(1, 1_000_000), 100),
      // Cloudflare Containers allow 15 minutes between SIGTERM and SIGKILL; other platforms less.
      graceMs: read('DRAIN_GRACE_SECONDS', wholeNumber(1, 86_400), 600) * 1000,
    },
    adapters: read('ADAPTERS_CONF', z.string().transform((v, ctx) => readAdapters(v, env, ctx)), null),
    builtInAdapterSets: read('ADAPTERS_CONF', z.string().transform(readBuiltInSetNames), [...BUILT_IN_SET_NAMES]),
  };
  if (config.adapters) checkAdapterPorts(config.adapters, config.listeners, problems);
  if (config.adapters) checkAdapterSetNames(config.adapters, config.builtInAdapterSets, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * ADAPTERS_CONF: adapters.xml files (comma-separated) or a folder of adapter set folders, read and
 * checked now, so a typo in any of them stops the start with its file, line and element.
 */
function readAdapters(value: string, env: Env, ctx: z.RefinementCtx): CheckedAdapters | null {
  const files = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry && !entry.startsWith(BUILT_IN_PREFIX));
  if (files.length === 0) {
    if (!value.includes(BUILT_IN_PREFIX)) ctx.addIssue({ code: 'custom', message: 'names no file' });
    return null;
  }
  try {
    return checkAdaptersConfs(readAdaptersConfs(adaptersConfFiles(files.join(',')), env));
  } catch (err) {
    if (err instanceof AdaptersConfError) for (const p of err.problems) ctx.addIssue({ code: 'custom', message: describeProblem(p) });
    else ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
}

/** The `builtin:<name>` entries of ADAPTERS_CONF: built-in sets served beside its files. */
function readBuiltInSetNames(value: string, ctx: z.RefinementCtx): string[] {
  const names: string[] = [];
  for (const entry of value.split(',').map((e) => e.trim())) {
    if (!entry.startsWith(BUILT_IN_PREFIX)) continue;
    const name = entry.slice(BUILT_IN_PREFIX.length);
    if (!(BUILT_IN_SET_NAMES as readonly string[]).includes(name)) ctx.addIssue({ code: 'custom', message: `${entry}: no built-in adapter set ${name} (there are ${BUILT_IN_SET_NAMES.join(', ')})` });
    else if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** An adapter set id names one set: an adapters.xml may not reuse a built-in set's name it serves too. */
function checkAdapterSetNames(adapters: CheckedAdapters, builtIn: readonly string[], problems: ConfigProblem[]): void {
  for (const plan of adapters.plans) {
    if (builtIn.includes(plan.conf.id)) problems.push({ variable: 'ADAPTERS_CONF', value: plan.conf.file, message: `adapter set ${plan.conf.id} is also the built-in set named by ${BUILT_IN_PREFIX}${plan.conf.id}` });
  }
}

/** A remote adapter's port must not be an HTTP listener's. */
function checkAdapterPorts(adapters: CheckedAdapters, listeners: readonly ListenerConfig[], problems: ConfigProblem[]): void {
  for (const plan of adapters.plans) {
    for (const provider of [plan.metadata, ...plan.data]) {
      if (provider.kind !== 'proxy') continue;
      for (const port of [provider.proxy.requestReplyPort, provider.proxy.notifyPort]) {
        const clash = listeners.find((l) => l.port === port);
        if (clash) problems.push({ variable: 'ADAPTERS_CONF', value: plan.conf.file, message: `${provider.provider.element}: port ${port} is also the listener ${clash.name}'s` });
      }
    }
  }
}

/**
 * The client fills a missing scheme and port from the address it was configured with, so a bare
 * `host[:port][/path]` is as good as a URL. It travels inside the comma-separated CONOK line.
 */
function controlLinkProblem(value: string): string | null {
  if (UNSAFE_IN_LINE.test(value) || /\s/.test(value)) return 'must not contain commas, spaces or control characters';
  const hasScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value);
  const url = URL.parse(hasScheme ? value : `http://${value}`);
  if (!url || !url.hostname) return 'must be host[:port][/path] or an http(s) URL';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the scheme must be http or https';
  if (url.username || url.password || url.search || url.hash) {
    return 'must not carry credentials, a query or a fragment';
  }
  return null;
}

function readListeners(
  value: string | undefined,
  defaultHost: string,
  defaultPort: number,
  problems: ConfigProblem[],
): ListenerConfig[] {
  if (value === undefined) {
    return [{ name: 'default', protocol: 'http', host: defaultHost, port: defaultPort, proxyProtocol: false, routes: new Set(ROUTES) }];
  }
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (err) {
    problems.push({ variable: 'LISTENERS', value: abbreviate(value), message: `is not valid JSON (${(err as Error).message})` });
    return [];
  }
  const parsed = listeners.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({
        variable: `LISTENERS${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`,
        value: abbreviate(JSON.stringify(valueAt(json, issue.path)) ?? 'undefined'),
        message: issue.message,
      });
    }
    return [];
  }
  const result: ListenerConfig[] = parsed.data.map((l, i) => ({
    ...l,
    name: l.name ?? `${l.protocol}-${i}`,
    host: l.host ?? defaultHost,
    routes: new Set(l.routes ?? (isPrivateInterface(l.host ?? defaultHost) ? ROUTES : PUBLIC_LISTENER_ROUTES)),
  }));
  checkListenerSet(result, problems);
  return result;
}

/** What zod cannot see: clashes between listeners and the certificate files themselves. */
function checkListenerSet(list: readonly ListenerConfig[], problems: ConfigProblem[]): void {
  const names = new Set<string>();
  const endpoints = new Map<string, string>();
  list.forEach((l, i) => {
    const at = `LISTENERS[${i}]`;
    if (names.has(l.name)) problems.push({ variable: `${at}.name`, value: JSON.stringify(l.name), message: 'is used by another listener' });
    names.add(l.name);
    const endpoint = `${l.host}:${l.port}`;
    const clash = endpoints.get(endpoint);
    if (clash) problems.push({ variable: at, value: endpoint, message: `is also the address of listener ${JSON.stringify(clash)}` });
    endpoints.set(endpoint, l.name);
    if (l.protocol !== 'https') return;
    const serverNames = new Set<string>();
    let defaults = 0;
    l.certificates.forEach((c, j) => {
      const certAt = `${at}.certificates[${j}]`;
      if (c.serverName === undefined) defaults++;
      else if (serverNames.has(c.serverName)) {
        problems.push({ variable: `${certAt}.serverName`, value: JSON.stringify(c.serverName), message: 'appears twice on this listener' });
      } else serverNames.add(c.serverName);
      const problem = certificateProblem(c);
      if (problem) problems.push({ variable: certAt, value: JSON.stringify(problem.file), message: problem.message });
    });
    if (defaults > 1) {
      problems.push({ variable: `${at}.certificates`, value: `${defaults} without serverName`, message: 'at most one certificate may be the default' });
    }
  });
}

/** Fails at start rather than at the first handshake: unreadable files and mismatched pairs alike. */
function certificateProblem(c: CertificateConfig): { file: string; message: string } | null {
  const pem: Record<'cert' | 'key', Buffer> = { cert: Buffer.alloc(0), key: Buffer.alloc(0) };
  for (const kind of ['cert', 'key'] as const) {
    try {
      pem[kind] = fs.readFileSync(c[kind]);
    } catch (err) {
      return { file: c[kind], message: `${kind} file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    }
  }
  try {
    tls.createSecureContext({ cert: pem.cert, key: pem.key });
  } catch (err) {
    return { file: `${c.cert} + ${c.key}`, message: `not a usable PEM certificate and key (${(err as Error).message})` };
  }
  return null;
}

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  let v = json;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function abbreviate(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
