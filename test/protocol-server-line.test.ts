import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as n from '../protocol/notifications.ts';
import { parseServerLine } from '../protocol/server-line.ts';

/** What a client reads back from each line an origin writes (protocol/notifications.ts). */
describe('server lines, read as a client reads them', () => {
  const line = (text: string) => parseServerLine(text.replace(/\r\n$/, ''));
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  const nat = fc.nat({ max: 1_000_000 });

  it('gives back the arguments of every line the origin writes, free text included', () => {
    fc.assert(
      fc.property(nat, nat, nat, text, fc.option(fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/), { nil: null }), (a, b, c, message, sequence) => {
        expect(line(n.conok('s1.abc', a, b, 'h:1/p'))).toEqual({ tag: 'CONOK', session: 's1.abc', requestLimit: a, keepaliveMs: b, controlLink: 'h:1/p' });
        expect(line(n.conerr(a, message))).toEqual({ tag: 'CONERR', code: a, message });
        expect(line(n.end(a, message))).toEqual({ tag: 'END', code: a, message });
        expect(line(n.reqerr(a, b, message))).toEqual({ tag: 'REQERR', reqId: a, code: b, message });
        expect(line(n.reqok(a))).toEqual({ tag: 'REQOK', reqId: a });
        expect(line(n.subcmd(a, b, c, 1, 2))).toEqual({ tag: 'SUBCMD', subId: a, items: b, fields: c, keyPos: 1, cmdPos: 2 });
        expect(line(n.ov(a, b, c))).toEqual({ tag: 'OV', subId: a, item: b, lost: c });
        expect(line(n.msgdone(sequence, a, message))).toEqual({ tag: 'MSGDONE', sequence, prog: a, response: message });
        expect(line(n.msgfail(sequence, a, b, message))).toEqual({ tag: 'MSGFAIL', sequence, prog: a, code: b, message });
      }),
      { numRuns: 500 },
    );
  });

  it('reads the lines without free text, a heartbeat REQOK and what it does not know', () => {
    expect(line(n.reqok())).toEqual({ tag: 'REQOK', reqId: null });
    expect(line(n.update(3, 2, 'a|#|^2'))).toEqual({ tag: 'U', subId: 3, item: 2, values: 'a|#|^2' });
    expect(line(n.conf(3, 'unlimited', false))).toEqual({ tag: 'CONF', subId: 3, maxFrequency: 'unlimited', filtered: false });
    expect(line(n.loop(0))).toEqual({ tag: 'LOOP', delayMs: 0 });
    expect(line(n.PROBE)).toEqual({ tag: 'PROBE' });
    expect(line('MPNREG,x,y')).toEqual({ tag: 'UNKNOWN', line: 'MPNREG,x,y' });
  });
});
