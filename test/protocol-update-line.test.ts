import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUpdateValues, encodeUpdateValue, encodeUpdateValues, unquote } from '../protocol/update-line.ts';

describe('U value lists', () => {
  it('marks null, empty and plain values', () => {
    expect(encodeUpdateValues([null, '', 'v|2'])).toBe('#|$|v%7C2');
  });

  it('writes unchanged fields as empty tokens and runs of three or more as ^n', () => {
    expect(encodeUpdateValues([undefined, 'x2', undefined])).toBe('|x2|');
    expect(encodeUpdateValues(['a', undefined, undefined, 'b'])).toBe('a|||b');
    expect(encodeUpdateValues(['a', undefined, undefined, undefined, 'b'])).toBe('a|^3|b');
    expect(encodeUpdateValues([undefined, undefined, undefined, undefined])).toBe('^4');
    expect(encodeUpdateValues([undefined])).toBe('');
    expect(encodeUpdateValues(['a', undefined, undefined])).toBe('a||');
  });

  it('escapes separators, percent signs, line breaks and leading markers only', () => {
    expect(encodeUpdateValue('50%|x\r\ny')).toBe('50%25%7Cx%0D%0Ay');
    expect(encodeUpdateValue('#1')).toBe('%231');
    expect(encodeUpdateValue('$')).toBe('%24');
    expect(encodeUpdateValue('^3')).toBe('%5E3');
    expect(encodeUpdateValue('a#$^')).toBe('a#$^');
    expect(encodeUpdateValue('café, ok')).toBe('café, ok');
  });

  it('round-trips through the official client parser rules', () => {
    // Mirrors ParseTools.parseUpdate + unquote of lightstreamer-client-node 9.2 for values.
    const parse = (list: string) =>
      list.split('|').map((t) => (t === '#' ? null : t === '$' ? '' : decodeURIComponent(t)));
    const values = ['#', '$', '^', '%', '|', 'x|y', '\r\n', 'plain', '', null];
    expect(parse(encodeUpdateValues(values))).toEqual(values);
  });
});

describe('reading U value lists back, as the official client does', () => {
  it('gives back every encoded list: values, nulls, empty strings and unchanged runs', () => {
    const value = fc.oneof(fc.string({ unit: 'grapheme' }), fc.constant(null), fc.constant(undefined), fc.constantFrom('#', '$', '^', '^3', '|', '%', '\r\n'));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 12 }), (values) => {
          expect(decodeUpdateValues(encodeUpdateValues(values))).toEqual(values);
        }),
      { numRuns: 2000 },
    );
  });

  it('percent-decodes bytes, then UTF-8, and hands delta tokens back undecoded', () => {
    expect(unquote('caf%C3%A9 %7C 100%25')).toBe('café | 100%');
    expect(decodeUpdateValues('^P%5B%5D|^Tab|^2|x')).toEqual([{ patch: 'json', text: '[]' }, { patch: 'diff', text: 'ab' }, undefined, undefined, 'x']);
  });
});
