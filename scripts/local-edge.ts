/**
 * The edge Worker on this machine, in workerd through Miniflare's API: what `npm start`, the tests and
 * the benchmarks run. `wrangler.toml` stays the one source of the Worker's bindings, Durable Object
 * classes and migrations; the code is bundled with esbuild as wrangler bundles it for deployment.
 * Unlike `wrangler dev`, nothing stands between clients and workerd's own listener: no dev proxy that
 * buffers request bodies, costs milliseconds per request and caps the sockets it relays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4WorkerOptions, type V4WorkerOptionsShape } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface LocalEdgeOptions {
  readonly port: number;
  readonly host?: string;
  /** Values for wrangler.toml's vars and for its secrets (ADMIN_SECRET, …), overriding the file's. */
  readonly vars?: Readonly<Record<string, string>>;
  /** Where Durable Object state lives across restarts of the edge; in memory when absent. */
  readonly persistDir?: string;
  /** workerd's V8 inspector on this port (benchmarks read the Worker isolate's heap through it); none when absent. */
  readonly inspectorPort?: number;
  /** Another wrangler.toml than the repository's. */
  readonly config?: string;
  /** The Worker's console output and Miniflare's warnings; errors only when false. */
  readonly verbose?: boolean;
  /**
   * Tests only: workerd runs no containers here, so ORIGIN_CONTAINER is bound to `className` of the
   * module `entry` instead (a Durable Object that forwards to a local origin), in a Worker of its own
   * with `vars`, so the edge's own bundle stays the one that deploys.
   */
  readonly containerStandIn?: { readonly entry: string; readonly className: string; readonly vars: Readonly<Record<string, string>> };
}

export interface LocalEdge {
  /** http://<host>:<port> */
  readonly url: string;
  readonly port: number;
  /** The Worker's bindings as Node sees them through Miniflare: its Durable Object namespaces, for tests. */
  bindings<Env>(): Promise<Env>;
  stop(): Promise<void>;
}

export async function startLocalEdge(options: LocalEdgeOptions): Promise<LocalEdge> {
  const configPath = options.config ?? path.join(ROOT, 'wrangler.toml');
  const read = unstable_getMiniflareWorkerOptions(configPath);
  // wrangler types them loosely; they are Miniflare's own worker options, without the code.
  const workerOptions = read.workerOptions as unknown as V4WorkerOptionsShape;
  const { main } = read;
  const entry = main ?? path.join(ROOT, 'worker/index.ts');
  const bundleDir = await mkdtemp(path.join(os.tmpdir(), 'edgepush-edge-'));
  const script = path.join(bundleDir, 'index.js');
  const bundle = (entryPoint: string, outfile: string) =>
    esbuild.build({
      entryPoints: [entryPoint],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2024',
      conditions: ['workerd', 'worker', 'browser'],
      mainFields: ['module', 'main'],
      external: ['cloudflare:*', 'node:*'],
      logLevel: 'warning',
    });
  await bundle(path.resolve(path.dirname(configPath), entry), script);
  const workers: V4WorkerOptions[] = [];
  let durableObjects = workerOptions.durableObjects;
  const standIn = options.containerStandIn;
  if (standIn) {
    const standInScript = path.join(bundleDir, 'container-stand-in.js');
    await bundle(standIn.entry, standInScript);
    workers.push({
      name: 'container-stand-in',
      compatibilityDate: workerOptions.compatibilityDate,
      modules: true,
      modulesRoot: bundleDir,
      scriptPath: standInScript,
      bindings: { ...standIn.vars },
      durableObjects: { STAND_IN: standIn.className },
    });
    durableObjects = { ...durableObjects, ORIGIN_CONTAINER: { className: standIn.className, scriptName: 'container-stand-in' } };
  }
  const host = options.host ?? '127.0.0.1';
  // The kinds of binding this edge uses (or may: a rate limiter); each as wrangler read it from the file.
  const worker: V4WorkerOptions = {
    name: 'edgepush',
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags ?? [],
    modules: true,
    modulesRoot: bundleDir,
    scriptPath: script,
    bindings: { ...workerOptions.bindings, ...options.vars },
    durableObjects,
    kvNamespaces: workerOptions.kvNamespaces,
    ratelimits: workerOptions.ratelimits,
    serviceBindings: workerOptions.serviceBindings,
  };
  // Miniflare 5 (the one wrangler ships, with wrangler's workerd) still reads Miniflare 4's options.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host,
      port: options.port,
      log: new Log(options.verbose ? LogLevel.INFO : LogLevel.ERROR),
      ...(options.persistDir ? { resourcePersistencePath: options.persistDir } : {}),
      ...(options.inspectorPort ? { inspectorPort: options.inspectorPort } : {}),
      workers: [worker, ...workers],
    }),
  );
  try {
    await mf.ready;
  } catch (err) {
    // A start that failed (a port taken meanwhile) may still hold a runtime process: the caller may try again.
    await mf.dispose().catch(() => undefined);
    await rm(bundleDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `http://${host}:${options.port}`,
    port: options.port,
    bindings: <Env>() => mf.getBindings<Env>(),
    async stop() {
      await mf.dispose();
      await rm(bundleDir, { recursive: true, force: true });
    },
  };
}
