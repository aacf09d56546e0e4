/**
 * `npm run origin`: one origin shard configured from the environment (see config.ts).
 */
import { pino } from 'pino';
import type { AdapterSet } from './adapters/adapter.ts';
import { loadAdapterSets, type LoadedAdapters } from './adapters/config/adapter-sets.ts';
import { AdaptersConfError } from './adapters/config/adapters-xml.ts';
import { createBuiltInSets } from './adapters/built-in-sets.ts';
import { createBus } from './bus/create-bus.ts';
import { ConfigError, loadConfig, type OriginConfig } from './config.ts';
import { startListeners } from './listeners/listeners.ts';
import { createOrigin } from './server.ts';

let config: OriginConfig;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

const logger = pino({ level: config.logLevel, base: { shard: config.shardId } });
// A stray rejection is a bug to fix, not a reason to drop every other client's session.
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

const bus = createBus({ redisUrl: config.redisUrl ?? undefined, logger });
const builtInSets = createBuiltInSets(config.builtInAdapterSets);
let adapterSets: readonly AdapterSet[] = builtInSets;
let loaded: LoadedAdapters | null = null;
if (config.adapters) {
  try {
    loaded = await loadAdapterSets(config.adapters, { shardId: config.shardId, logger });
    await loaded.listen();
  } catch (err) {
    const message = err instanceof AdaptersConfError ? `invalid configuration:\n${err.problems.map((p) => `  ADAPTERS_CONF: ${p.file}:${p.line} <${p.element}>: ${p.message}`).join('\n')}` : (err as Error).message;
    process.stderr.write(`${message}\n`);
    await loaded?.close();
    process.exit(1);
  }
  adapterSets = [...loaded.sets, ...builtInSets];
}
for (const set of adapterSets) for (const adapter of set.dataAdapters.values()) adapter.start?.(bus);
const origin = createOrigin(config, bus, adapterSets, logger, loaded?.remoteStats ?? []);
loaded?.control(origin.sessions);
await loaded?.firstConnections();

let listeners;
try {
  listeners = await startListeners(config.listeners, origin.handlers);
} catch (err) {
  logger.fatal({ err }, 'cannot listen');
  process.exit(1);
}
for (const l of listeners.addresses) logger.info({ listener: l.name, url: `${l.protocol}://${l.host}:${l.port}` }, 'listening');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  // A rollout's SIGTERM moves sessions away a few at a time; Ctrl-C (SIGINT) does not wait.
  if (signal === 'SIGTERM') await origin.drain(config.drain);
  // END 48 first, so clients reconnect (elsewhere) at once instead of waiting out a dead socket.
  origin.close();
  for (const set of builtInSets) for (const adapter of set.dataAdapters.values()) await adapter.stop?.();
  // Closing the listeners destroys sockets with whatever they still buffer: give the ENDs a moment.
  await new Promise((resolve) => setTimeout(resolve, 200));
  await listeners!.close();
  // After the sessions' ends, so remote metadata adapters hear of their close.
  await loaded?.close();
  await bus.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
