/**
 * Remote adapters for tests: an adapters.xml for a robust proxy pair on free ports, and the SDK-based
 * remote adapter process (remote-adapter-process.ts) with its control port.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { spawnManaged, tsNode, type Managed } from './process.ts';
import { waitUntil } from './wait.ts';

export interface AdapterPorts {
  readonly metadata: number;
  readonly data: number;
  readonly notify: number;
}

export async function freeAdapterPorts(): Promise<AdapterPorts> {
  return { metadata: await freePort(), data: await freePort(), notify: await freePort() };
}

export const REMOTE_USER = 'remote-adapter';
export const REMOTE_PASSWORD = 'remote-adapter-secret';

/** An adapter set REMOTE: a robust remote metadata adapter and a robust remote data adapter STOCKS. */
export function remoteAdaptersXml(ports: AdapterPorts, options: { readonly id?: string; readonly extraData?: string; readonly timeoutMs?: number } = {}): string {
  const auth = `
    <param name="auth">Y</param>
    <param name="auth.credentials.1.user">${REMOTE_USER}</param>
    <param name="auth.credentials.1.password">$env.REMOTE_ADAPTER_SECRET</param>`;
  return `<?xml version="1.0"?>
<adapters_conf id="${options.id ?? 'REMOTE'}">
  <metadata_adapter_initialised_first>N</metadata_adapter_initialised_first>
  <metadata_provider>
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <classloader>log-enabled</classloader>
    <param name="request_reply_port">${ports.metadata}</param>
    <param name="interface">127.0.0.1</param>${auth}
    <param name="timeout">${options.timeoutMs ?? 5000}</param>
    <param name="close_notifications_recovery">unneeded</param>
    <param name="notify_user_on_disconnection">force_retry</param>
  </metadata_provider>
  <data_provider name="STOCKS">
    <adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class>
    <classloader>log-enabled</classloader>
    <param name="request_reply_port">${ports.data}</param>
    <param name="notify_port">${ports.notify}</param>
    <param name="interface">127.0.0.1</param>${auth}
    <param name="timeout">${options.timeoutMs ?? 5000}</param>
    <param name="events_recovery">use_snapshot</param>
    <param name="status_item">remote_status</param>${options.extraData ?? ''}
  </data_provider>
</adapters_conf>
`;
}

/** Writes `xml` as adapters.xml in a fresh temporary folder; returns its path. */
export function writeAdaptersXml(xml: string, name = 'adapters.xml'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgepush-adapters-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, xml);
  return file;
}

export interface RemoteAdapterState {
  readonly log: string[];
  readonly subscribed: string[];
  readonly sessions: string[];
  readonly counters: Record<string, number>;
}

export interface RemoteAdapterHandle extends Managed {
  update(item: string, fields: Record<string, string | null>, snapshot?: boolean): Promise<void>;
  clear(item: string): Promise<void>;
  state(): Promise<RemoteAdapterState>;
  /** Count of `entry` lines in the adapter's log ("SUB merge_item"). */
  count(entry: string): Promise<number>;
}

/**
 * Starts the SDK remote adapter process against an origin's ports and waits until it is ready: its
 * control port listens and, given `originUrl`, the origin reports every one of its remote adapters
 * connected and initialised — the SDK connects in the background, and a client the origin serves
 * before then is refused (CONERR 66) as by a real origin whose remote is not there yet.
 */
export async function startRemoteAdapter(ports: Partial<AdapterPorts>, env: Record<string, string> = {}, originUrl?: string): Promise<RemoteAdapterHandle> {
  const control = await freePort();
  const proc = spawnManaged(...tsNode('test/support/remote-adapter-process.ts'), {
    HOST: '127.0.0.1',
    ...(ports.metadata ? { METADATA_PORT: String(ports.metadata) } : {}),
    ...(ports.data ? { DATA_PORT: String(ports.data), NOTIFY_PORT: String(ports.notify) } : {}),
    CONTROL_PORT: String(control),
    REMOTE_USER,
    REMOTE_PASSWORD,
    ...env,
  });
  await waitUntil(() => /REMOTE ADAPTER READY/.test(proc.output()) || proc.child.exitCode !== null, 20_000, () => `remote adapter not ready:\n${proc.output()}`);
  if (proc.child.exitCode !== null) throw new Error(`remote adapter exited with ${proc.child.exitCode}:\n${proc.output()}`);
  const url = `http://127.0.0.1:${control}`;
  const post = async (what: string, body: unknown) => {
    const res = await fetch(`${url}/${what}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`remote adapter ${what}: ${await res.text()}`);
  };
  const state = async (): Promise<RemoteAdapterState> => {
    try {
      return (await (await fetch(url)).json()) as RemoteAdapterState;
    } catch (err) {
      // The process exits when the origin closes its connection: say why, from its own output.
      throw new Error(`remote adapter unreachable (${(err as Error).message}; exit ${proc.child.exitCode}):\n${proc.output()}`);
    }
  };
  if (originUrl) {
    const connected = async () => {
      const series = (await (await fetch(`${originUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('edgepush_remote_adapter_connected{'));
      return series.length > 0 && series.every((l) => l.endsWith(' 1'));
    };
    await waitUntil(connected, 20_000, () => `the origin never had its remote adapters connected:\n${proc.output()}`);
  }
  return {
    ...proc,
    update: (item, fields, snapshot = false) => post('update', { item, fields, snapshot }),
    clear: (item) => post('clear', { item }),
    state,
    count: async (entry) => (await state()).log.filter((l) => l === entry).length,
  };
}
