import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Runs a TypeScript entry point in Node 22 with tsx as a loader, in ONE process: the `tsx` CLI forks
 * a child, so a SIGKILL to it would leave the real server running and make crash tests lie.
 */
export function tsNode(entry: string): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', entry]];
}

export interface Managed {
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr), for assertions and failure reports. */
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL at once: a crash, as far as anyone else can tell. */
  kill(): Promise<void>;
}

const running = new Set<Managed>();
process.once('exit', () => {
  for (const m of running) m.child.kill('SIGKILL');
});

export function spawnManaged(command: string, args: string[], env: Record<string, string>): Managed {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const managed: Managed = {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(managed);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      running.delete(managed);
    },
  };
  running.add(managed);
  return managed;
}

/** Polls `url` until it answers 200, or fails with the process output when it does not in time. */
export async function waitForHttp(url: string, proc: Managed, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`process exited with ${proc.child.exitCode} before ${url} answered:\n${proc.output()}`);
    }
    try {
      const res = await fetch(url);
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${proc.output()}`);
}
