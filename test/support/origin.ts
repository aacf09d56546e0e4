import { freePort } from './ports.ts';
import { spawnManaged, waitForHttp, tsNode, type Managed } from './process.ts';

export interface OriginHandle extends Managed {
  readonly shardId: string;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
}

/** Starts one real origin process (`origin/main.ts`) configured by environment, as `npm run origin` does. */
export async function startOrigin(env: Record<string, string> = {}): Promise<OriginHandle> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const shardId = env.SHARD_ID ?? `s${port}`;
  const proc = spawnManaged(...tsNode('origin/main.ts'), {
    LOG_LEVEL: 'warn',
    ...env,
    PORT: String(port),
    SHARD_ID: shardId,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/lightstreamer/healthcheck`, proc);
  return { ...proc, shardId, port, url };
}
