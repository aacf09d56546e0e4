/**
 * The delta encoders of TLCP 2.5.0 (protocol/tlcp-diff.ts, protocol/json-patch.ts) and their `U`
 * tokens: applying a delta to the old value gives the new one, for any pair of values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DIFF_CHARS, applyTlcpDiff, encodeTlcpDiff } from '../protocol/tlcp-diff.ts';
import { applyJsonPatch, encodeJsonPatch } from '../protocol/json-patch.ts';
import { decodeUpdateValues, encodeUpdateValues } from '../protocol/update-line.ts';

/** Text of BMP characters without surrogates, the wire's markers and separators included. */
const bmpText = fc.string({ unit: fc.oneof(fc.constantFrom('|', '%', '\r', '\n', '^', '#', '$', 'a', 'b', ' '), fc.integer({ min: 0, max: 0xd7ff }).map((c) => String.fromCharCode(c))), maxLength: 60 });

/** A text and an edit of it: differences between related texts are what deltas are for. */
const editedPair = fc
  .tuple(bmpText, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), bmpText), { maxLength: 4 }))
  .map(([from, edits]) => {
    let to = from;
    for (const [at, removed, inserted] of edits) {
      const i = to.length === 0 ? 0 : at % (to.length + 1);
      to = to.slice(0, i) + inserted + to.slice(i + removed);
    }
    return [from, to] as const;
  });

describe('TLCP-diff', () => {
  it('turns the old value into the new one, for edited and unrelated texts', () => {
    fc.assert(
      fc.property(fc.oneof(editedPair, fc.tuple(bmpText, bmpText)), ([from, to]) => {
        const diff = encodeTlcpDiff(from, to);
        expect(diff).not.toBeNull();
        expect(applyTlcpDiff(from, diff!)).toBe(to);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes counts in base 26, capitals leading and a small letter last', () => {
    // Copy 6, add 1 ("2"), delete 1: `value=1` into `value=2`.
    expect(encodeTlcpDiff('value=1', 'value=2')).toBe('gb2b');
    expect(encodeTlcpDiff('x'.repeat(27), 'x'.repeat(27) + 'y')).toBe('Bbby');
    // Copy 1, add 3, delete 1, copy 1; nothing is implied past the end.
    expect(applyTlcpDiff('abcd', 'bdxyzbb')).toBe('axyzc');
  });

  it('declines texts with surrogate pairs and texts too long to compare', () => {
    expect(encodeTlcpDiff('price 🙂', 'price 🙃')).toBeNull();
    expect(encodeTlcpDiff('x'.repeat(MAX_DIFF_CHARS + 1), 'y')).toBeNull();
  });

  it('refuses a diff that does not fit its base', () => {
    expect(() => applyTlcpDiff('ab', 'z')).toThrow();
    expect(() => applyTlcpDiff('ab', 'cb')).toThrow();
  });
});

describe('JSON Patch', () => {
  const object = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
  const array = fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 });

  it('turns the old JSON value into one equal to the new', () => {
    fc.assert(
      fc.property(fc.oneof(fc.tuple(object, object), fc.tuple(array, array)), ([a, b]) => {
        const from = JSON.stringify(a);
        const to = JSON.stringify(b);
        const patch = encodeJsonPatch(from, to);
        expect(patch).not.toBeNull();
        expect(JSON.parse(applyJsonPatch(from, patch!))).toEqual(JSON.parse(to));
      }),
      { numRuns: 1000 },
    );
  });

  it('declines scalars and texts that are not JSON', () => {
    expect(encodeJsonPatch('1', '2')).toBeNull();
    expect(encodeJsonPatch('"a"', '{"a":1}')).toBeNull();
    expect(encodeJsonPatch('{"a":', '{"a":1}')).toBeNull();
    expect(encodeJsonPatch('{"a":1}', '{"a":1')).toBeNull();
    expect(encodeJsonPatch('{}', '[]')).toBeNull();
  });

  it('patches a changed member', () => {
    expect(JSON.parse(encodeJsonPatch('{"value":1,"text":"t"}', '{"value":2,"text":"t"}')!)).toEqual([{ op: 'replace', path: '/value', value: 2 }]);
  });
});

describe('delta tokens in U value lists', () => {
  it('read back as the delta they carry, whatever its text', () => {
    fc.assert(
      fc.property(bmpText, fc.boolean(), (text, json) => {
        const patch = json ? ('json' as const) : ('diff' as const);
        const encoded = encodeUpdateValues(['x', { patch, text }, undefined]);
        expect(encoded.startsWith(`x|^${json ? 'P' : 'T'}`)).toBe(true);
        expect(decodeUpdateValues(encoded)).toEqual(['x', { patch, text }, undefined]);
      }),
    );
  });
});
