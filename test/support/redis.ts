import { freePort } from './ports.ts';
import { spawnManaged, type Managed } from './process.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisHandle extends Managed {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
}

/**
 * Starts a private, throwaway redis-server on a free loopback port (no persistence). Pass the
 * port of a stopped instance to bring "the same" Redis back, empty, as after a crash.
 */
export async function startRedis(port?: number): Promise<RedisHandle> {
  const p = port ?? (await freePort());
  const proc = spawnManaged(REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {});
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/i.test(proc.output())) {
    if (proc.child.exitCode !== null) throw new Error(`redis-server exited:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ...proc, port: p, url: `redis://127.0.0.1:${p}` };
}
