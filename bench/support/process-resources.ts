/**
 * Resident memory and open files of processes a bench did not start itself (the workerd that
 * Miniflare or wrangler dev spawns), straight from the kernel.
 */
import fs from 'node:fs';

/** Pids of every process below `root` (children, grandchildren…) whose command is `name`. */
export function descendantsNamed(root: number, name: string): number[] {
  const children = new Map<number, number[]>();
  const command = new Map<number, string>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pid = Number(entry);
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      command.set(pid, stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      if (command.get(child) === name) found.push(child);
      visit(child);
    }
  };
  visit(root);
  return found;
}

/** VmRSS of `pid` in bytes; 0 when it is gone. */
export function residentBytes(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const totalResidentBytes = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + residentBytes(pid), 0);

/** Descriptors `pid` holds open; 0 when it is gone. */
export function openFiles(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** The soft limit on open files of `pid` (what makes accept() fail with EMFILE); null when unknown. */
export function openFileLimit(pid: number): number | null {
  try {
    const limit = /Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))?.[1];
    return limit ? Number(limit) : null;
  } catch {
    return null;
  }
}

export const isRunning = (pid: number) => fs.existsSync(`/proc/${pid}`);
