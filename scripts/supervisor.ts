/**
 * Keeps the local cluster's processes running: a process that dies is reported and started again
 * after a delay that doubles with each quick death, so a user can kill a shard and watch the edge
 * fail over and the shard come back. Stopping ends every process it started, and everything those
 * started (wrangler runs workerd): each child leads its own process group, and the whole group is
 * signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ProcessSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Whether the process serves yet; polled after each start until it does. */
  readonly isUp: () => Promise<boolean>;
}

/** Restart delays double from `firstMs` up to `maxMs`; a process that stayed up `stableMs` starts over. */
const BACKOFF = { firstMs: 1_000, maxMs: 30_000, stableMs: 30_000 };
/** SIGTERM first; whatever still runs this long after is killed. */
const STOP_GRACE_MS = 5_000;
const UP_POLL_MS = 200;

/**
 * One process's life. `launching` is its first start, while the cluster comes up: dying then means a
 * broken setup (a port in use, a bad variable), which restarting would only repeat.
 */
type State =
  | { readonly kind: 'launching'; readonly child: ChildProcess }
  | { readonly kind: 'up'; readonly child: ChildProcess; readonly startedAt: number }
  | { readonly kind: 'restarting'; readonly child: ChildProcess; readonly startedAt: number }
  | { readonly kind: 'waiting'; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'stopping'; readonly child: ChildProcess; readonly stopped: Promise<void> }
  | { readonly kind: 'stopped' };

export interface SupervisorEvents {
  /** A line for the console. */
  report(line: string): void;
  /** A process died during its first start; the caller decides what happens to the cluster. */
  launchFailed(name: string, cause: string): void;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the whole group is gone already
  }
}

function causeOf(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

const seconds = (ms: number) => `${ms / 1000} s`;

class SupervisedProcess {
  private state: State = { kind: 'stopped' };
  /** Deaths since the process last stayed up `stableMs`: the exponent of the next delay. */
  private quickDeaths = 0;
  private readonly firstUp: Promise<void>;
  private markFirstUp!: () => void;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly events: SupervisorEvents,
  ) {
    this.firstUp = new Promise((resolve) => (this.markFirstUp = resolve));
  }

  get pid(): number | undefined {
    return 'child' in this.state ? this.state.child.pid : undefined;
  }

  launch(): void {
    const child = this.spawn();
    this.state = { kind: 'launching', child };
    void this.watchUntilUp(child);
  }

  /** Resolves once the process has served for the first time. */
  whenUp(): Promise<void> {
    return this.firstUp;
  }

  stop(): Promise<void> {
    const s = this.state;
    switch (s.kind) {
      case 'stopped':
        return Promise.resolve();
      case 'stopping':
        return s.stopped;
      case 'waiting':
        clearTimeout(s.timer);
        this.state = { kind: 'stopped' };
        return Promise.resolve();
      default: {
        const { child } = s;
        const stopped = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        this.state = { kind: 'stopping', child, stopped };
        signalGroup(child, 'SIGTERM');
        const force = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
        return stopped.finally(() => clearTimeout(force));
      }
    }
  }

  /** Last resort when the supervisor itself is going away: no process may outlive it. */
  killNow(): void {
    if ('child' in this.state) signalGroup(this.state.child, 'SIGKILL');
  }

  private spawn(): ChildProcess {
    const { name, command, args, env } = this.spec;
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const prefix = (line: string) => (line.trim() ? `[${name}] ${line}\n` : '');
    const relay = (stream: NodeJS.WriteStream) => (chunk: Buffer) => stream.write(chunk.toString('utf8').split('\n').map(prefix).join(''));
    child.stdout!.on('data', relay(process.stdout));
    child.stderr!.on('data', relay(process.stderr));
    // A command that cannot be started at all reports only `error`; one that ran reports `exit`.
    child.once('error', (err) => this.exited(child, err.message));
    child.once('exit', (code, signal) => this.exited(child, causeOf(code, signal)));
    return child;
  }

  private async watchUntilUp(child: ChildProcess): Promise<void> {
    for (;;) {
      const s = this.state;
      // The state names another child, or none, once this one died or is being stopped.
      if (!('child' in s) || s.child !== child || (s.kind !== 'launching' && s.kind !== 'restarting')) return;
      if (await this.spec.isUp().catch(() => false)) break;
      await new Promise((r) => setTimeout(r, UP_POLL_MS));
    }
    const s = this.state;
    if (!('child' in s) || s.child !== child) return;
    if (s.kind === 'launching') {
      this.events.report(`• ${this.spec.name} up (pid ${child.pid})`);
      this.state = { kind: 'up', child, startedAt: Date.now() };
      this.markFirstUp();
    } else if (s.kind === 'restarting') {
      this.events.report(`✓ ${this.spec.name} is back up (pid ${child.pid})`);
      this.state = { kind: 'up', child, startedAt: s.startedAt };
    }
  }

  private exited(child: ChildProcess, cause: string): void {
    const s = this.state;
    if (!('child' in s) || s.child !== child) return;
    // Whatever the process started (workerd under wrangler) goes with it, or it would hold the port.
    signalGroup(child, 'SIGKILL');
    switch (s.kind) {
      case 'stopping':
        this.state = { kind: 'stopped' };
        return;
      case 'launching':
        this.state = { kind: 'stopped' };
        this.events.launchFailed(this.spec.name, cause);
        return;
      case 'up':
      case 'restarting': {
        if (Date.now() - s.startedAt >= BACKOFF.stableMs) this.quickDeaths = 0;
        const delay = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** this.quickDeaths);
        this.quickDeaths++;
        this.events.report(`✗ ${this.spec.name} is dead (${cause}); restarting it in ${seconds(delay)}`);
        const timer = setTimeout(() => this.restart(), delay);
        this.state = { kind: 'waiting', timer };
      }
    }
  }

  private restart(): void {
    const child = this.spawn();
    this.state = { kind: 'restarting', child, startedAt: Date.now() };
    this.events.report(`↻ ${this.spec.name} restarted (pid ${child.pid})`);
    void this.watchUntilUp(child);
  }
}

export class Supervisor {
  private readonly processes = new Map<string, SupervisedProcess>();

  constructor(private readonly events: SupervisorEvents) {
    // Should the launcher itself end abruptly, its children must not live on without it.
    process.once('exit', () => this.processes.forEach((p) => p.killNow()));
  }

  start(spec: ProcessSpec): void {
    const supervised = new SupervisedProcess(spec, this.events);
    this.processes.set(spec.name, supervised);
    supervised.launch();
  }

  whenUp(name: string): Promise<void> {
    return this.processOf(name).whenUp();
  }

  pidOf(name: string): number | undefined {
    return this.processOf(name).pid;
  }

  /**
   * Stops every process, pending restarts included, in the reverse order of their start: those that
   * depend on others (shards on Redis, the edge on shards) go first, so nothing logs its neighbour's
   * death on the way out. Resolves when all of them are gone.
   */
  async stop(): Promise<void> {
    for (const p of [...this.processes.values()].reverse()) await p.stop();
  }

  private processOf(name: string): SupervisedProcess {
    const p = this.processes.get(name);
    if (!p) throw new Error(`no process named ${name}`);
    return p;
  }
}
