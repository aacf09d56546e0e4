/**
 * The params of Lightstreamer's proxy adapter classes, PROXY_FOR_REMOTE_ADAPTER and
 * ROBUST_PROXY_FOR_REMOTE_ADAPTER, as their adapters.xml templates document them, checked and turned
 * into what the origin's ARI listener needs. A param the templates do not have, a robust-only param
 * on the plain proxy, or a value out of range is a start error naming file, line and param. A few
 * params describe what an origin does not do; those are refused with the reason rather than ignored
 * (connecting out with `remote_host`, TLS client certificates), except the cipher-suite tuning of the
 * JVM, which Node's defaults already cover (a warning says so).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { EventsRecovery } from '../adapter.ts';
import type { ConfProblem, ProviderConf } from './adapters-xml.ts';

export const PROXY_CLASS = 'PROXY_FOR_REMOTE_ADAPTER';
export const ROBUST_PROXY_CLASS = 'ROBUST_PROXY_FOR_REMOTE_ADAPTER';

export type CloseNotificationsRecovery = 'pessimistic' | 'optimistic' | 'unneeded';
export type NotifyUserOnDisconnection = 'fail' | 'force_retry' | 'send_code';

export interface ProxyTls {
  readonly pfx: Buffer;
  readonly passphrase: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly honorCipherOrder: boolean;
}

export interface ProxyConfig {
  readonly robust: boolean;
  readonly kind: 'metadata' | 'data';
  /** `<set>` or `<set>/<data provider>`, for logs and metrics. */
  readonly label: string;
  readonly requestReplyPort: number;
  /** Data only: the two-connection form of the older SDKs (Node 1.5); null: one connection. */
  readonly notifyPort: number | null;
  /** Interface to bind; null: all. */
  readonly host: string | null;
  readonly tls: ProxyTls | null;
  /** user → password, when `auth` is Y. */
  readonly credentials: ReadonlyMap<string, string> | null;
  /** Per request; null: unlimited. */
  readonly timeoutMs: number | null;
  /** Silence from the remote after which its connection is dropped; null: none. */
  readonly keepaliveTimeoutMs: number | null;
  /** Keepalive interval asked of the remote (`keepalive_hint.millis`); null: none asked. */
  readonly keepaliveHintMs: number | null;
  /** Sent with the init request besides the protocol's own. */
  readonly remoteParams: ReadonlyMap<string, string>;
  /** Addresses allowed to connect; null: any. */
  readonly allowedAddresses: readonly string[] | null;
  /** After a failed initialisation, connections are refused this long; negative: for good. */
  readonly connectionRecoveryTimeoutMs: number;
  /**
   * The origin waits this long at start, before it listens for clients, for the remote's first
   * connection (Infinity: until it comes); null, when not configured: it starts at once and refuses
   * clients the adapter set cannot serve yet (Lightstreamer's default is to wait).
   */
  readonly firstConnectionTimeoutMs: number | null;
  readonly closeNotificationsRecovery: CloseNotificationsRecovery;
  readonly notifyUserOnDisconnection: NotifyUserOnDisconnection;
  readonly notifyUserDisconnectionCode: number | null;
  readonly notifyUserDisconnectionMessage: string | null;
  readonly eventsRecovery: EventsRecovery;
  readonly statusItem: string | null;
}

const COMMON = new Set([
  'request_reply_port',
  'interface',
  'tls',
  'auth',
  'timeout',
  'keepalive_timeout_millis',
  'keepalive_hint_millis',
  'remote_params_prefix',
  'remote_address_whitelist',
]);
const DATA_ONLY = new Set(['notify_port']);
const ROBUST_COMMON = new Set(['connection_recovery_timeout_millis', 'first_connection_timeout_millis']);
const ROBUST_METADATA = new Set(['close_notifications_recovery', 'notify_user_on_disconnection', 'notify_user_disconnection_code', 'notify_user_disconnection_msg']);
const ROBUST_DATA = new Set(['events_recovery', 'status_item']);
const UNSUPPORTED: Record<string, string> = {
  remote_host: 'edgepush listens for remote adapters; connecting out to one is not supported',
  connection_retry_millis: 'only used with remote_host, which edgepush does not support',
};
const TLS_WARNED = /^tls\.(allow_cipher_suite|remove_cipher_suites)(\..+)?$|^tls\.enforce_server_cipher_suite_preference\.order$/;
const TLS_REFUSED: Record<string, string> = {
  'tls.force_client_auth': 'TLS client certificates for remote adapters are not supported (use auth credentials)',
  'tls.skip_hostname_check': 'only used with remote_host, which edgepush does not support',
};

export interface ProxyParamsResult {
  readonly config: ProxyConfig | null;
  readonly warnings: readonly string[];
}

export function readProxyParams(setId: string, provider: ProviderConf, problems: ConfProblem[]): ProxyParamsResult {
  const robust = provider.adapterClass === ROBUST_PROXY_CLASS;
  const { params, kind } = provider;
  const warnings: string[] = [];
  const before = problems.length;
  const problemAt = (name: string, message: string) =>
    void problems.push({ file: provider.file, line: params.get(name)?.line ?? provider.line, element: `param name="${name}"`, message });
  const prefix = params.get('remote_params_prefix')?.value ?? null;
  if (prefix !== null && !prefix.includes(':')) problemAt('remote_params_prefix', 'must contain a ":" (names without one are reserved)');
  const tlsOn = params.get('tls')?.value === 'Y';

  for (const [name] of params) {
    if (COMMON.has(name) || (kind === 'data' && DATA_ONLY.has(name))) continue;
    if (ROBUST_COMMON.has(name) || (kind === 'metadata' ? ROBUST_METADATA : ROBUST_DATA).has(name)) {
      if (!robust) problemAt(name, `only ${ROBUST_PROXY_CLASS} has this param`);
      continue;
    }
    if (prefix !== null && name.startsWith(prefix)) continue;
    if (name in UNSUPPORTED) {
      problemAt(name, UNSUPPORTED[name]);
      continue;
    }
    if (/^auth\.credentials\.[^.]+\.(user|password)$/.test(name)) continue;
    if (name.startsWith('tls.')) {
      // Lightstreamer ignores the TLS params while tls is N (its templates leave some set).
      if (!tlsOn) continue;
      if (/^tls\.keystore\.(type|keystore_file|keystore_password|keystore_password\.type)$/.test(name)) continue;
      if (/^tls\.(allow_protocol|remove_protocols)\.[^.]+$/.test(name) || name === 'tls.enforce_server_cipher_suite_preference') continue;
      if (name in TLS_REFUSED) {
        problemAt(name, TLS_REFUSED[name]);
        continue;
      }
      if (/^tls\.truststore\./.test(name)) {
        problemAt(name, TLS_REFUSED['tls.force_client_auth']);
        continue;
      }
      if (TLS_WARNED.test(name)) {
        warnings.push(`${provider.file}:${params.get(name)!.line} ${name} is ignored: Node's TLS defaults choose the cipher suites`);
        continue;
      }
    }
    problemAt(name, name === 'notify_port' ? 'only a data_provider has a notify_port (a metadata adapter uses one connection)' : `unknown param of ${provider.adapterClass}`);
  }

  const int = (name: string, min: number, max: number, fallback: number | null): number | null => {
    const p = params.get(name);
    if (p === undefined) return fallback;
    if (!/^-?\d+$/.test(p.value)) {
      problemAt(name, `${JSON.stringify(p.value)} is not a whole number`);
      return fallback;
    }
    const n = Number(p.value);
    if (n < min || n > max) {
      problemAt(name, `must be between ${min} and ${max}`);
      return fallback;
    }
    return n;
  };
  const yesNo = (name: string): boolean => {
    const v = params.get(name)?.value;
    if (v === undefined) return false;
    if (v !== 'Y' && v !== 'N') problemAt(name, 'must be Y or N');
    return v === 'Y';
  };
  const choice = <T extends string>(name: string, values: readonly T[], fallback: T): T => {
    const v = params.get(name)?.value;
    if (v === undefined) return fallback;
    if (!(values as readonly string[]).includes(v)) {
      problemAt(name, `must be one of ${values.join(', ')}`);
      return fallback;
    }
    return v as T;
  };
  /** Lightstreamer's "negative: unlimited" timeouts. */
  const millis = (name: string, fallback: number | null): number | null => {
    const v = int(name, -(2 ** 31), 2 ** 31 - 1, fallback === null ? -1 : fallback);
    return v === null || v <= 0 ? null : v;
  };

  if (!params.has('request_reply_port')) problems.push({ file: provider.file, line: provider.line, element: provider.element, message: 'request_reply_port is required' });
  const requestReplyPort = int('request_reply_port', 1, 65535, 0) ?? 0;
  const notifyPort = kind === 'data' ? int('notify_port', 1, 65535, null) : null;
  if (notifyPort !== null && notifyPort === requestReplyPort) problemAt('notify_port', 'must differ from request_reply_port');
  const host = params.get('interface')?.value ?? null;
  if (host !== null && net.isIP(host) === 0 && host !== 'localhost') problemAt('interface', 'must be an IP address of this machine');

  let credentials: Map<string, string> | null = null;
  if (yesNo('auth')) {
    credentials = new Map();
    const suffixes = new Set([...params.keys()].flatMap((n) => /^auth\.credentials\.([^.]+)\.(user|password)$/.exec(n)?.[1] ?? []));
    for (const suffix of suffixes) {
      const user = params.get(`auth.credentials.${suffix}.user`);
      const password = params.get(`auth.credentials.${suffix}.password`);
      if (!user || !password) {
        problemAt(`auth.credentials.${suffix}.${user ? 'password' : 'user'}`, `auth.credentials.${suffix} needs both a user and a password`);
        continue;
      }
      credentials.set(user.value, password.value);
    }
    if (credentials.size === 0) problemAt('auth', 'auth is Y but no auth.credentials.<n>.user/password pair is configured');
  }

  const tls = tlsOn ? readTls(provider, problemAt) : null;
  if (params.has('tls') && !tlsOn) yesNo('tls');

  const remoteParams = new Map<string, string>();
  if (prefix !== null) for (const [name, p] of params) if (name.startsWith(prefix) && name !== 'remote_params_prefix') remoteParams.set(name, p.value);

  const keepaliveTimeoutMs = millis('keepalive_timeout_millis', null);
  // The templates' default hint: half the timeout below 4 s, else 2 s less than it.
  const defaultHint = keepaliveTimeoutMs === null ? null : keepaliveTimeoutMs < 4000 ? Math.floor(keepaliveTimeoutMs / 2) : keepaliveTimeoutMs - 2000;
  const keepaliveHintMs = millis('keepalive_hint_millis', defaultHint);

  const code = int('notify_user_disconnection_code', -(2 ** 31), 0, null);
  const notifyUserOnDisconnection = choice<NotifyUserOnDisconnection>('notify_user_on_disconnection', ['fail', 'force_retry', 'send_code'], code === null ? 'fail' : 'send_code');
  if (notifyUserOnDisconnection === 'send_code' && code === null) problemAt('notify_user_on_disconnection', 'send_code needs notify_user_disconnection_code');
  if (notifyUserOnDisconnection !== 'send_code' && code !== null) problemAt('notify_user_disconnection_code', 'only with notify_user_on_disconnection send_code');

  const statusItem = params.get('status_item')?.value ?? null;
  if (statusItem !== null && !/^[^\s{}\x00-\x1f]{1,512}$/.test(statusItem)) problemAt('status_item', 'must be an item name without blanks or braces');

  const whitelist = params.get('remote_address_whitelist')?.value;
  const firstConnection = int('first_connection_timeout_millis', -(2 ** 31), 2 ** 31 - 1, null);
  if (problems.length > before) return { config: null, warnings };
  return {
    warnings,
    config: {
      robust,
      kind,
      label: kind === 'metadata' ? setId : `${setId}/${provider.name}`,
      requestReplyPort,
      notifyPort,
      host,
      tls,
      credentials,
      timeoutMs: millis('timeout', 10_000),
      keepaliveTimeoutMs,
      keepaliveHintMs,
      remoteParams,
      allowedAddresses: whitelist === undefined ? null : whitelist.split(',').map((a) => a.trim()).filter(Boolean),
      connectionRecoveryTimeoutMs: int('connection_recovery_timeout_millis', -(2 ** 31), 2 ** 31 - 1, -1) ?? -1,
      firstConnectionTimeoutMs: firstConnection === null ? null : firstConnection < 0 ? Infinity : firstConnection,
      closeNotificationsRecovery: choice<CloseNotificationsRecovery>('close_notifications_recovery', ['pessimistic', 'optimistic', 'unneeded'], 'pessimistic'),
      notifyUserOnDisconnection,
      notifyUserDisconnectionCode: code,
      notifyUserDisconnectionMessage: params.get('notify_user_disconnection_msg')?.value ?? null,
      eventsRecovery: choice<EventsRecovery>('events_recovery', ['leave_hole', 'use_snapshot', 'enforce_snapshot'], robust ? 'leave_hole' : 'use_snapshot'),
      statusItem,
    },
  };
}

const PROTOCOLS = ['TLSv1.2', 'TLSv1.3'] as const;

function readTls(provider: ProviderConf, problemAt: (name: string, message: string) => void): ProxyTls | null {
  const { params } = provider;
  const type = params.get('tls.keystore.type')?.value ?? 'JKS';
  if (type !== 'PKCS12') {
    problemAt(params.has('tls.keystore.type') ? 'tls.keystore.type' : 'tls', `keystore type ${type} is not supported: use a PKCS12 keystore (keytool -importkeystore -deststoretype PKCS12 converts a JKS one)`);
    return null;
  }
  const file = params.get('tls.keystore.keystore_file');
  if (!file) {
    problemAt('tls', 'tls is Y but tls.keystore.keystore_file is not set');
    return null;
  }
  const base = path.dirname(path.resolve(provider.file));
  let pfx: Buffer;
  try {
    pfx = fs.readFileSync(path.resolve(base, file.value));
  } catch (err) {
    problemAt('tls.keystore.keystore_file', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return null;
  }
  let passphrase = params.get('tls.keystore.keystore_password')?.value ?? '';
  const passwordType = params.get('tls.keystore.keystore_password.type')?.value ?? 'text';
  if (passwordType === 'file') {
    try {
      passphrase = fs.readFileSync(path.resolve(base, passphrase), 'utf8').trim();
    } catch (err) {
      problemAt('tls.keystore.keystore_password', `the password file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return null;
    }
  } else if (passwordType !== 'text') {
    problemAt('tls.keystore.keystore_password.type', 'must be text or file');
    return null;
  }
  const listed = (kind: string) => [...params].filter(([n]) => n.startsWith(`tls.${kind}.`)).map(([n, p]) => ({ name: n, value: p.value }));
  let allowed: string[] = [...PROTOCOLS];
  const allow = listed('allow_protocol');
  if (allow.length > 0) allowed = allow.map((p) => p.value);
  for (const removed of listed('remove_protocols')) {
    // Lightstreamer takes these as regular expressions ("TLSv1$").
    let pattern: RegExp;
    try {
      pattern = new RegExp(removed.value);
    } catch {
      problemAt(removed.name, 'is not a regular expression');
      continue;
    }
    allowed = allowed.filter((p) => !pattern.test(p));
  }
  const usable = PROTOCOLS.filter((p) => allowed.includes(p));
  for (const p of allow) if (!(PROTOCOLS as readonly string[]).includes(p.value)) problemAt(p.name, `${p.value} is not offered: edgepush speaks TLSv1.2 and TLSv1.3`);
  if (usable.length === 0) {
    problemAt('tls', 'no TLS protocol version left to offer (TLSv1.2 and TLSv1.3 are supported)');
    return null;
  }
  const preference = params.get('tls.enforce_server_cipher_suite_preference')?.value;
  if (preference !== undefined && preference !== 'Y' && preference !== 'N') problemAt('tls.enforce_server_cipher_suite_preference', 'must be Y or N');
  return { pfx, passphrase, minVersion: usable[0], maxVersion: usable[usable.length - 1], honorCipherOrder: preference === 'Y' };
}
