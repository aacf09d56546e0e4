import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayLog } from '../protocol/replay-log.ts';

function drain(log: ReplayLog): string[] {
  const out: string[] = [];
  for (let line = log.peek(); line !== undefined; line = log.peek()) {
    out.push(line);
    log.advance();
  }
  return out;
}

describe('replay log', () => {
  it('numbers lines as the client counts them and resumes after any line it still holds', () => {
    const log = new ReplayLog(1000);
    for (let i = 1; i <= 5; i++) log.append(`L${i}`);
    expect(log.pending).toBe(5);
    expect(drain(log)).toEqual(['L1', 'L2', 'L3', 'L4', 'L5']);
    expect(log.sent).toBe(5);
    log.resumeFrom(3);
    expect(drain(log)).toEqual(['L4', 'L5']);
    log.append('L6');
    log.resumeFrom(5);
    expect(drain(log)).toEqual(['L6']);
  });

  it('keeps written lines only up to its budget, and never drops unwritten ones', () => {
    const log = new ReplayLog(10);
    for (let i = 1; i <= 20; i++) log.append(`line${String(i).padStart(2, '0')}`);
    expect(log.pending).toBe(20);
    drain(log);
    expect(log.canResumeFrom(20)).toBe(true);
    expect(log.canResumeFrom(19)).toBe(true);
    expect(log.canResumeFrom(1)).toBe(false);
    expect(log.canResumeFrom(21)).toBe(false);
    expect(() => log.resumeFrom(1)).toThrow();
  });

  it('compacts its storage on long runs without losing the numbering', () => {
    const log = new ReplayLog(100);
    for (let i = 1; i <= 5000; i++) {
      log.append(`x${i}`);
      log.advance();
    }
    expect(log.total).toBe(5000);
    log.resumeFrom(4995);
    expect(drain(log)).toEqual(['x4996', 'x4997', 'x4998', 'x4999', 'x5000']);
  });

  it('goes on from the count a restored session inherits', () => {
    const log = new ReplayLog(1000, 40);
    expect(log.canResumeFrom(40)).toBe(true);
    expect(log.canResumeFrom(39)).toBe(false);
    log.append('L41');
    expect(log.total).toBe(41);
    log.resumeFrom(40);
    expect(drain(log)).toEqual(['L41']);
  });

  it('counts the characters of the lines not yet written, through writes, trims and resumes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), line: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant('advance' as const) }),
      fc.record({ kind: fc.constant('resume' as const), back: fc.nat(10) }),
    );
    fc.assert(
      fc.property(fc.nat(60), fc.array(op, { maxLength: 200 }), (budget, ops) => {
        const log = new ReplayLog(budget);
        const lines: string[] = [];
        for (const o of ops) {
          if (o.kind === 'append') {
            log.append(o.line);
            lines.push(o.line);
          } else if (o.kind === 'advance') {
            if (log.peek() !== undefined) log.advance();
          } else if (log.canResumeFrom(log.sent - o.back)) {
            log.resumeFrom(log.sent - o.back);
          }
          const unwritten = lines.slice(log.sent).reduce((sum, line) => sum + line.length, 0);
          if (log.pendingChars !== unwritten) throw new Error(`pendingChars ${log.pendingChars}, unwritten ${unwritten}`);
        }
      }),
    );
  });
});
