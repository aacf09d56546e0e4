import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from './support/ports.ts';
import { ROOT } from './support/process.ts';
import { waitUntil } from './support/wait.ts';

/**
 * `npm start` as a user runs it, on ports of its own: kill a shard and the launcher reports it dead
 * and brings it back while everything else keeps running; Ctrl-C then stops every process it
 * started, down to the workerd the edge runs in.
 */

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  /** Start time in clock ticks since boot: with the pid, names one process even if pids are reused. */
  readonly startTime: string;
  readonly state: string;
}

function procOf(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields start after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0], ppid: Number(fields[1]), startTime: fields[19] };
  } catch {
    return null;
  }
}

/** Every live process below `root`, found through parent links as `ps` would show them. */
function descendants(root: number): Proc[] {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => procOf(Number(d))).filter((p): p is Proc => p !== null);
  const found: Proc[] = [];
  let parents = new Set([root]);
  while (parents.size) {
    const children = all.filter((p) => parents.has(p.ppid));
    found.push(...children);
    parents = new Set(children.map((p) => p.pid));
  }
  return found;
}

/** A zombie has ended; only its parent has not collected it yet. */
function isRunning(p: Proc): boolean {
  const now = procOf(p.pid);
  return now !== null && now.startTime === p.startTime && now.state !== 'Z';
}

function shardPid(root: number, shard: string): number | undefined {
  return descendants(root).find((p) => {
    try {
      return readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').includes(`SHARD_ID=${shard}`);
    } catch {
      return false;
    }
  })?.pid;
}

function edgePid(root: number): number | undefined {
  return descendants(root).find((p) => {
    try {
      const cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
      return cmd.includes('scripts/edge.ts');
    } catch {
      return false;
    }
  })?.pid;
}

let launcher: ChildProcess | undefined;

afterAll(() => {
  // Only if the test failed half-way: the same Ctrl-C, harder.
  if (launcher?.pid && launcher.exitCode === null && launcher.signalCode === null) {
    for (const p of descendants(launcher.pid)) process.kill(p.pid, 'SIGKILL');
    process.kill(-launcher.pid, 'SIGKILL');
  }
});

it('restarts a killed shard while the rest keeps running, and Ctrl-C leaves no process behind', async () => {
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  const [edgePort, shard1Port, shard2Port, redisPort] = [...ports];
  const edgeState = mkdtempSync(path.join(os.tmpdir(), 'edgepush-cluster-state-'));
  // Its own process group, as in a terminal, where Ctrl-C signals the whole foreground group.
  launcher = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      EDGE_PORT: String(edgePort),
      SHARD1_PORT: String(shard1Port),
      SHARD2_PORT: String(shard2Port),
      REDIS_PORT: String(redisPort),
      EDGE_STATE_DIR: edgeState,
    },
  });
  const root = launcher.pid!;
  let output = '';
  launcher.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  launcher.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = new Promise<string>((resolve) => launcher!.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`)));

  await waitUntil(() => output.includes('ready:'), 120_000, () => `never ready:\n${output}`);
  const [s1, s2, edge] = [shardPid(root, 's1'), shardPid(root, 's2'), edgePid(root)];
  expect([s1, s2, edge]).not.toContain(undefined);
  const healthy = async (port: number) => (await fetch(`http://127.0.0.1:${port}/lightstreamer/healthcheck`).catch(() => null))?.ok === true;

  process.kill(s1!, 'SIGKILL');
  await waitUntil(() => /s1 is dead \(killed by SIGKILL\)/.test(output), 10_000, () => `s1's death not reported:\n${output}`);
  await waitUntil(async () => (await healthy(shard1Port)) && /s1 is back up/.test(output), 60_000, () => `s1 never came back:\n${output}`);
  const restarted = shardPid(root, 's1');
  expect(restarted).toBeDefined();
  expect(restarted).not.toBe(s1);
  expect(output).toContain(`s1 is back up (pid ${restarted})`);
  // Nothing else was touched: the same processes, still serving.
  expect([shardPid(root, 's2'), edgePid(root)]).toEqual([s2, edge]);
  expect(await healthy(shard2Port)).toBe(true);
  expect(await healthy(edgePort)).toBe(true);
  expect(output).not.toMatch(/(s2|edge|redis) is dead/);

  const started = descendants(root);
  // workerd runs under the edge process, a grandchild of the launcher: it must go too.
  expect(started.some((p) => readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('workerd'))).toBe(true);
  process.kill(-root, 'SIGINT');
  // npm passes the launcher's clean exit on as an exit by the same signal, as a shell expects.
  const ending = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
  expect(ending).toMatch(/^exited \((0|SIGINT)\)$/);
  await waitUntil(() => started.every((p) => !isRunning(p)), 5_000, () => `left running: ${started.filter(isRunning).map((p) => p.pid).join(' ')}`);
  rmSync(edgeState, { recursive: true, force: true });
}, 240_000);
