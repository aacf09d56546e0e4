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
  for (let attempt = 1; ; attempt++) {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const shardId = env.SHARD_ID ?? `s${port}`;
    const proc = spawnManaged(...tsNode('origin/main.ts'), {
      LOG_LEVEL: 'warn',
      ...env,
      PORT: String(port),
      SHARD_ID: shardId,
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/lightstreamer/healthcheck`, proc);
      return { ...proc, shardId, port, url };
    } catch (err) {
      // The port was free a moment ago; a process of a test running beside this one may have taken it since.
      if (env.PORT || attempt === 5 || !/EADDRINUSE/.test(proc.output())) throw err;
      await proc.stop();
    }
  }
}

/** Publishes through an origin's API (`POST /api/publish`): one update or a list of them. */
export async function publish(originUrl: string, token: string, updates: unknown): Promise<void> {
  const res = await fetch(`${originUrl}/api/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(updates),
  });
  if (!res.ok) throw new Error(`publish answered ${res.status}: ${await res.text()}`);
}

export interface OriginStatus {
  shard: string;
  sessions: number;
  sessionsByTransport: Record<string, number>;
  wrongInstance: number;
}

export async function originStatus(originUrl: string): Promise<OriginStatus> {
  const res = await fetch(`${originUrl}/api/status`);
  return (await res.json()) as OriginStatus;
}
