/**
 * CPU time of groups of processes from the kernel's accounting, for benches whose processes come and
 * go (a killed shard, a restarted edge): a sample is taken per pid, and a pid that appeared between
 * two samples counts from zero.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100;

/** User + system CPU seconds of `pid` so far; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Pids of the children of `parent` whose command is `name` (e.g. Miniflare's workerd). */
export function childrenNamed(parent: number, name: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && command === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Per group, CPU seconds by pid at one moment. */
export type CpuSample = Record<string, Map<number, number>>;

export function sampleCpu(groups: Readonly<Record<string, readonly number[]>>): CpuSample {
  const sample: CpuSample = {};
  for (const [group, pids] of Object.entries(groups)) {
    sample[group] = new Map();
    for (const pid of pids) {
      const seconds = cpuSeconds(pid);
      if (seconds !== null) sample[group].set(pid, seconds);
    }
  }
  return sample;
}

/** CPU seconds each group used between two samples (pids that ended in between are not counted after their last sample). */
export function cpuBetween(before: CpuSample, after: CpuSample): Record<string, number> {
  const used: Record<string, number> = {};
  for (const [group, pids] of Object.entries(after)) {
    used[group] = 0;
    for (const [pid, seconds] of pids) used[group] += seconds - (before[group]?.get(pid) ?? 0);
  }
  return used;
}
