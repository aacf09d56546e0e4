/**
 * Preloaded (`--import`) into every server a benchmark measures, so the origin and the raw
 * baselines answer the same question the same way: on an IPC `measure` message, collect garbage
 * (the process runs with `--expose-gc`) and report its memory.
 */
import fs from 'node:fs';

export interface MemoryReport {
  readonly type: 'memory';
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message: unknown) => {
  if ((message as { type?: string } | null)?.type !== 'measure') return;
  // Two passes: the first may only queue weak callbacks and finalizers that the second reclaims.
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  const report: MemoryReport = {
    type: 'memory',
    rss: residentBytes(),
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
  };
  process.send?.(report);
});

/** VmRSS straight from the kernel: `memoryUsage().rss` is the same figure with an extra syscall path. */
function residentBytes(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : process.memoryUsage().rss;
}
