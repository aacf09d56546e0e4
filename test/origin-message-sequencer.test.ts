import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdapterError } from '../origin/adapters/adapter.ts';
import { MessageSequencer, type ClientMessage } from '../origin/messages/message-sequencer.ts';

const message = (text: string, prog: number | null, extra: Partial<ClientMessage> = {}): ClientMessage => ({
  text,
  sequence: 'S',
  prog,
  maxWaitMs: null,
  outcome: true,
  ...extra,
});

function setup(process: (text: string) => Promise<string> = async (t) => `ok:${t}`) {
  const seen: string[] = [];
  const lines: string[] = [];
  const unexpected: unknown[] = [];
  const seq = new MessageSequencer(
    async (text) => {
      seen.push(text);
      return process(text);
    },
    (line) => void lines.push(line.trimEnd()),
    (err) => void unexpected.push(err),
  );
  return { seq, seen, lines, unexpected };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('message sequences', () => {
  it('processes a sequence in prog order whatever the arrival order, and ignores retransmissions', async () => {
    const { seq, seen, lines } = setup();
    seq.submit(message('c', 3));
    seq.submit(message('a', 1));
    seq.submit(message('b', 2));
    seq.submit(message('a again', 1));
    await vi.waitFor(() => expect(lines).toHaveLength(3));
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(lines).toEqual(['MSGDONE,S,1,ok:a', 'MSGDONE,S,2,ok:b', 'MSGDONE,S,3,ok:c']);
  });

  it('skips a missing message after LS_max_wait (38) and several at once (39 with the count)', async () => {
    vi.useFakeTimers();
    const { seq, lines } = setup();
    seq.submit(message('two', 2, { maxWaitMs: 100 }));
    await vi.advanceTimersByTimeAsync(99);
    expect(lines).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lines).toEqual(['MSGFAIL,S,1,38,message skipped: max wait elapsed', 'MSGDONE,S,2,ok:two']);
    seq.submit(message('six', 6, { maxWaitMs: 50 }));
    await vi.advanceTimersByTimeAsync(50);
    expect(lines.slice(2)).toEqual(['MSGFAIL,S,5,39,3', 'MSGDONE,S,6,ok:six']);
  });

  it('reports adapter refusals and failures, and nothing when no outcome is wanted', async () => {
    const { seq, lines, unexpected } = setup(async (t) => {
      if (t === 'deny') throw new AdapterError(-3, 'no, thanks');
      if (t === 'boom') throw new Error('bug');
      return '';
    });
    seq.submit(message('deny', 1, { sequence: null }));
    seq.submit(message('boom', 2, { sequence: null }));
    seq.submit(message('quiet', 1, { outcome: false }));
    await vi.waitFor(() => expect(lines).toHaveLength(2));
    expect(lines).toContain('MSGFAIL,*,1,-3,no%2C thanks');
    expect(lines).toContain('MSGFAIL,*,2,68,message processing failed');
    expect(unexpected).toHaveLength(1);
  });

  it('refuses a sequenced message without prog', () => {
    expect(setup().seq.submit(message('x', null))).toMatch(/LS_msg_prog/);
  });
});
