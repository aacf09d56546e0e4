/**
 * A server under measurement: one Node process (no tsx launcher in between, so its pid is the
 * process doing the work), started the same way for the origin and the raw baselines, with the
 * memory probe preloaded and its CPU time read from the kernel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../test/support/ports.ts';
import { ROOT } from '../../test/support/process.ts';
import type { MemoryReport } from './memory-probe.ts';

const TICKS_PER_SECOND = 100;

export interface ServerProcess {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** User + system CPU seconds the process used so far. */
  cpuSeconds(): number;
  memory(): Promise<MemoryReport>;
  stop(): Promise<void>;
}

export interface ServerSpec {
  readonly name: string;
  /** Script path relative to the repository root. */
  readonly script: string;
  readonly env?: Record<string, string>;
  /** Writes a V8 CPU profile into this directory when the process exits. */
  readonly profileDir?: string;
}

export async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  const port = await freePort();
  const args = ['--expose-gc', '--import', 'tsx', '--import', path.join(import.meta.dirname, 'memory-probe.ts')];
  if (spec.profileDir) args.push('--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`);
  const child = spawn(process.execPath, [...args, spec.script], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...spec.env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(`${url}/lightstreamer/healthcheck`, child);
  const statPath = `/proc/${child.pid}/stat`;
  return {
    name: spec.name,
    url,
    child,
    cpuSeconds() {
      // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
      const stat = fs.readFileSync(statPath, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    },
    memory() {
      return new Promise((resolve) => {
        const onMessage = (m: MemoryReport) => {
          if (m?.type !== 'memory') return;
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        child.send({ type: 'measure' });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT lets --cpu-prof write its profile; the origin also stops cleanly on it.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before ${url} answered`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer in 30 s`);
}
