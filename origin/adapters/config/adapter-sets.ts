/**
 * From adapters.xml to running adapter sets. An `<adapter_class>` is one of:
 * - `PROXY_FOR_REMOTE_ADAPTER` / `ROBUST_PROXY_FOR_REMOTE_ADAPTER`: a remote adapter over ARI, which
 *   the origin listens for on the configured port(s);
 * - `com.lightstreamer.adapters.metadata.LiteralBasedProvider` (metadata): Lightstreamer's stock one;
 * - `edgepush.FeedAdapter` (data): the generic FEED adapter, fed by `POST /api/publish`;
 * - a path to a JS/TS module (relative to the adapters.xml), exporting `createMetadataAdapter(params)`
 *   or `createDataAdapter(params)` (params: the block's `<param>` values, plus `adapters_conf.id` and,
 *   for data adapters, `data_provider.name`), as the adapter API (adapter.ts) describes.
 *
 * Checking is in two steps, both before anything listens: `checkAdaptersConfs` (with the rest of the
 * configuration: classes and params) and `loadAdapterSets` (modules imported, factories run).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { AdapterSet, DataAdapter, MetadataAdapter } from '../adapter.ts';
import { createFeedAdapter } from '../demo/feed.ts';
import { LITERAL_BASED_PARAMS, LITERAL_BASED_PROVIDER, createLiteralBasedProvider } from '../literal-based-provider.ts';
import { RemoteDataAdapter } from '../remote/remote-data-adapter.ts';
import { RemoteMetadataAdapter, type SessionControl } from '../remote/remote-metadata-adapter.ts';
import { RemoteStats } from '../remote/remote-stats.ts';
import { AdaptersConfError, type AdaptersConf, type ConfProblem, type ProviderConf } from './adapters-xml.ts';
import { PROXY_CLASS, ROBUST_PROXY_CLASS, readProxyParams, type ProxyConfig } from './proxy-params.ts';

export const FEED_ADAPTER_CLASS = 'edgepush.FeedAdapter';
const MODULE_CLASS = /(^\.{0,2}\/)|\.(m?[jt]s|cjs)$/;

export type ProviderPlan =
  | { readonly kind: 'proxy'; readonly provider: ProviderConf; readonly proxy: ProxyConfig }
  | { readonly kind: 'literal'; readonly provider: ProviderConf }
  | { readonly kind: 'feed'; readonly provider: ProviderConf }
  | { readonly kind: 'module'; readonly provider: ProviderConf; readonly modulePath: string };

export interface AdapterSetPlan {
  readonly conf: AdaptersConf;
  readonly metadata: ProviderPlan;
  readonly data: readonly ProviderPlan[];
}

export interface CheckedAdapters {
  readonly plans: readonly AdapterSetPlan[];
  /** Things that work but not as configured (ignored TLS tuning): logged at start. */
  readonly warnings: readonly string[];
}

/** Checks every provider's class and params; throws AdaptersConfError listing every problem. */
export function checkAdaptersConfs(confs: readonly AdaptersConf[]): CheckedAdapters {
  const problems: ConfProblem[] = [];
  const warnings: string[] = [];
  const plans: AdapterSetPlan[] = [];
  const ports = new Map<number, string>();
  const plan = (conf: AdaptersConf, provider: ProviderConf): ProviderPlan | null => {
    const at = (message: string) => void problems.push({ file: provider.file, line: provider.adapterClassLine, element: 'adapter_class', message });
    const cls = provider.adapterClass;
    if (cls === PROXY_CLASS || cls === ROBUST_PROXY_CLASS) {
      const { config, warnings: w } = readProxyParams(conf.id, provider, problems);
      warnings.push(...w);
      if (!config) return null;
      for (const port of [config.requestReplyPort, config.notifyPort]) {
        if (port === null) continue;
        const other = ports.get(port);
        if (other) problems.push({ file: provider.file, line: provider.params.get(port === config.notifyPort ? 'notify_port' : 'request_reply_port')?.line ?? provider.line, element: provider.element, message: `port ${port} is also used by ${other}` });
        ports.set(port, `${conf.file} <${provider.element}>`);
      }
      return { kind: 'proxy', provider, proxy: config };
    }
    if (cls === LITERAL_BASED_PROVIDER) {
      if (provider.kind !== 'metadata') return at(`${cls} is a metadata adapter`), null;
      for (const [name, p] of provider.params) {
        if (!LITERAL_BASED_PARAMS.test(name)) problems.push({ file: provider.file, line: p.line, element: `param name="${name}"`, message: `unknown param of ${cls}` });
      }
      try {
        createLiteralBasedProvider(new Map([...provider.params].map(([k, p]) => [k, p.value])));
      } catch (err) {
        at((err as Error).message);
        return null;
      }
      return { kind: 'literal', provider };
    }
    if (cls === FEED_ADAPTER_CLASS) {
      if (provider.kind !== 'data') return at(`${cls} is a data adapter`), null;
      for (const [name, p] of provider.params) problems.push({ file: provider.file, line: p.line, element: `param name="${name}"`, message: `${cls} takes no params` });
      return { kind: 'feed', provider };
    }
    if (MODULE_CLASS.test(cls)) return { kind: 'module', provider, modulePath: path.resolve(path.dirname(path.resolve(conf.file)), cls) };
    at(
      `unknown adapter class ${cls}: use ${PROXY_CLASS} or ${ROBUST_PROXY_CLASS} (a remote adapter), ${LITERAL_BASED_PROVIDER}, ${FEED_ADAPTER_CLASS}, or the path of a JS/TS module (./my-adapter.ts)`,
    );
    return null;
  };
  for (const conf of confs) {
    const metadata = plan(conf, conf.metadata);
    const data = conf.dataProviders.map((p) => plan(conf, p));
    if (metadata && data.every((d) => d !== null)) plans.push({ conf, metadata, data: data as ProviderPlan[] });
  }
  if (problems.length > 0) throw new AdaptersConfError(problems);
  return { plans, warnings };
}

export interface LoadedAdapters {
  readonly sets: readonly AdapterSet[];
  /** One per proxy adapter, for the metrics. */
  readonly remoteStats: readonly RemoteStats[];
  /** Binds the proxies' ports; throws (a port in use) with the adapter named. */
  listen(): Promise<void>;
  /** Waits for the remotes whose `first_connection_timeout_millis` asks for it. */
  firstConnections(): Promise<void>;
  /** Gives remote metadata adapters the origin's sessions (FST, FUS). */
  control(sessions: SessionControl): void;
  close(): Promise<void>;
}

interface LoadContext {
  readonly shardId: string;
  readonly logger: Logger;
}

/** Imports modules and builds every adapter; throws AdaptersConfError for a module that does not load. */
export async function loadAdapterSets(checked: CheckedAdapters, context: LoadContext): Promise<LoadedAdapters> {
  const problems: ConfProblem[] = [];
  const sets: AdapterSet[] = [];
  const remoteStats: RemoteStats[] = [];
  const remoteMetadata: RemoteMetadataAdapter[] = [];
  const endpoints: Array<{ label: string; listen(): Promise<void>; connected(ms: number): Promise<boolean>; close(): Promise<void>; firstConnectionTimeoutMs: number | null }> = [];
  const closers: Array<() => unknown> = [];
  for (const warning of checked.warnings) context.logger.warn(warning);

  const params = (provider: ProviderConf, setId: string): Record<string, string> => {
    const out: Record<string, string> = Object.fromEntries([...provider.params].map(([k, p]) => [k, p.value]));
    out['adapters_conf.id'] = setId;
    if (provider.kind === 'data') out['data_provider.name'] = provider.name;
    return out;
  };
  const moduleExport = async (plan: Extract<ProviderPlan, { kind: 'module' }>, name: string, setId: string): Promise<unknown> => {
    const at = (message: string) => void problems.push({ file: plan.provider.file, line: plan.provider.adapterClassLine, element: 'adapter_class', message });
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(plan.modulePath).href)) as Record<string, unknown>;
    } catch (err) {
      at(`the module ${plan.modulePath} does not load: ${(err as Error).message}`);
      return null;
    }
    const factory = mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name];
    if (typeof factory !== 'function') {
      at(`the module ${plan.modulePath} exports no ${name}(params) function`);
      return null;
    }
    try {
      return await factory(params(plan.provider, setId));
    } catch (err) {
      at(`${name} failed: ${(err as Error).message}`);
      return null;
    }
  };

  for (const { conf, metadata: metaPlan, data: dataPlans } of checked.plans) {
    let metadata: MetadataAdapter | null = null;
    const initParams = new Map([
      ['adapters_conf.id', conf.id],
      ['server.instance_id', context.shardId],
    ]);
    if (metaPlan.kind === 'proxy') {
      const stats = new RemoteStats(metaPlan.proxy.label, 'metadata');
      const remote = new RemoteMetadataAdapter(metaPlan.proxy, stats, context.logger, initParams);
      remoteStats.push(stats);
      remoteMetadata.push(remote);
      endpoints.push({ label: metaPlan.proxy.label, listen: () => remote.endpoint.listen(), connected: (ms) => remote.endpoint.connected(ms), close: () => remote.close(), firstConnectionTimeoutMs: metaPlan.proxy.firstConnectionTimeoutMs });
      metadata = remote;
    } else if (metaPlan.kind === 'literal') {
      metadata = createLiteralBasedProvider(new Map([...metaPlan.provider.params].map(([k, p]) => [k, p.value])));
    } else if (metaPlan.kind === 'module') {
      const made = (await moduleExport(metaPlan, 'createMetadataAdapter', conf.id)) as MetadataAdapter | null;
      if (made && !['notifyUser', 'getItems', 'getSchema', 'notifyUserMessage'].every((m) => typeof (made as unknown as Record<string, unknown>)[m] === 'function')) {
        problems.push({ file: metaPlan.provider.file, line: metaPlan.provider.adapterClassLine, element: 'adapter_class', message: 'createMetadataAdapter returned no metadata adapter (notifyUser, getItems, getSchema, notifyUserMessage)' });
      } else metadata = made;
      if (metadata?.close) closers.push(() => metadata!.close!());
    }

    const dataAdapters = new Map<string, DataAdapter>();
    for (const plan of dataPlans) {
      const name = plan.provider.name;
      if (plan.kind === 'proxy') {
        const stats = new RemoteStats(plan.proxy.label, 'data');
        const remote = new RemoteDataAdapter(name, plan.proxy, stats, context.logger, new Map([...initParams, ['data_provider.name', name]]));
        remoteStats.push(stats);
        endpoints.push({ label: plan.proxy.label, listen: () => remote.endpoint.listen(), connected: (ms) => remote.endpoint.connected(ms), close: () => remote.stop(), firstConnectionTimeoutMs: plan.proxy.firstConnectionTimeoutMs });
        dataAdapters.set(name, remote);
      } else if (plan.kind === 'feed') {
        dataAdapters.set(name, createFeedAdapter(name));
      } else if (plan.kind === 'module') {
        const made = (await moduleExport(plan, 'createDataAdapter', conf.id)) as Omit<DataAdapter, 'name'> | null;
        if (!made) continue;
        if (typeof made.subscribe !== 'function' && typeof made.start !== 'function') {
          problems.push({ file: plan.provider.file, line: plan.provider.adapterClassLine, element: 'adapter_class', message: 'createDataAdapter returned no data adapter (subscribe/unsubscribe, or start)' });
          continue;
        }
        const adapter = Object.assign(made, { name }) as DataAdapter;
        dataAdapters.set(name, adapter);
        if (adapter.stop) closers.push(() => adapter.stop!());
      }
    }
    if (metadata) sets.push({ name: conf.id, metadata, dataAdapters, defaultDataAdapter: dataAdapters.has('DEFAULT') ? 'DEFAULT' : [...dataAdapters.keys()][0] });
  }
  if (problems.length > 0) {
    await Promise.all(endpoints.map((e) => e.close()));
    throw new AdaptersConfError(problems);
  }

  return {
    sets,
    remoteStats,
    async listen() {
      for (const endpoint of endpoints) {
        try {
          await endpoint.listen();
        } catch (err) {
          throw new Error(`remote adapter ${endpoint.label} cannot listen: ${(err as Error).message}`);
        }
      }
    },
    async firstConnections() {
      await Promise.all(
        endpoints
          .filter((e) => e.firstConnectionTimeoutMs !== null)
          .map(async (e) => {
            const timeoutMs = e.firstConnectionTimeoutMs!;
            context.logger.info({ adapter: e.label, timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : 'none' }, 'waiting for the first connection of the remote adapter before serving clients');
            if (!(await e.connected(timeoutMs))) context.logger.warn({ adapter: e.label }, 'no remote adapter within first_connection_timeout_millis; starting without it');
          }),
      );
    },
    control(sessions) {
      for (const remote of remoteMetadata) remote.control(sessions);
    },
    async close() {
      await Promise.all([...endpoints.map((e) => e.close()), ...closers.map((c) => Promise.resolve().then(c).catch(() => {}))]);
    },
  };
}
