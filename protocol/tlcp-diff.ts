/**
 * TLCP-diff (TLCP 2.5.0, `^T` values): a new text as a difference from the previous one, a sequence
 * of copy / add / delete steps — copy n characters of the old text, add the n characters that follow
 * in the diff, skip n characters of the old text — repeated in that order until the diff ends
 * (nothing is implied after its end). Counts are UTF-16 code units, written in base 26 with
 * capital letters for the leading digits and a small letter for the last (0 = `a`, 27 = `Bb`).
 *
 * The encoder takes its differences from Google's diff-match-patch, as Lightstreamer does.
 */
import DiffMatchPatch from 'diff-match-patch';

/** Texts longer than this are not compared: the comparison's cost grows faster than their length. */
export const MAX_DIFF_CHARS = 64 * 1024;
/** diff-match-patch stops refining after this long (seconds) and answers a coarser difference. */
const DIFF_TIMEOUT_S = 0.02;
const SURROGATE = /[\uD800-\uDFFF]/;

const dmp = new DiffMatchPatch();
dmp.Diff_Timeout = DIFF_TIMEOUT_S;

/**
 * The TLCP-diff turning `from` into `to`; null where none may be sent: a text with surrogate pairs
 * (counts would split one), or one past MAX_DIFF_CHARS.
 */
export function encodeTlcpDiff(from: string, to: string): string | null {
  if (from.length > MAX_DIFF_CHARS || to.length > MAX_DIFF_CHARS || SURROGATE.test(from) || SURROGATE.test(to)) return null;
  const diffs = dmp.diff_main(from, to);
  dmp.diff_cleanupEfficiency(diffs);
  let out = '';
  let copy = 0;
  let add = '';
  let del = 0;
  for (const [op, text] of diffs) {
    if (op === DiffMatchPatch.DIFF_EQUAL) {
      if (add !== '' || del > 0) {
        out += varint(copy) + varint(add.length) + add + varint(del);
        copy = 0;
        add = '';
        del = 0;
      }
      copy += text.length;
    } else if (op === DiffMatchPatch.DIFF_INSERT) add += text;
    else del += text.length;
  }
  // The last step may stop early: a decoder ends where the diff does.
  if (add === '' && del === 0) return copy > 0 ? out + varint(copy) : out;
  out += varint(copy) + varint(add.length) + add;
  return del > 0 ? out + varint(del) : out;
}

/** Applies a TLCP-diff; throws on one that does not fit `base`. */
export function applyTlcpDiff(base: string, diff: string): string {
  let out = '';
  let basePos = 0;
  let pos = 0;
  const read = (): number => {
    let n = 0;
    for (;;) {
      if (pos >= diff.length) throw new Error('TLCP-diff ends inside a count');
      const c = diff.charCodeAt(pos++);
      if (c >= 0x61 && c <= 0x7a) return n * 26 + (c - 0x61);
      if (c < 0x41 || c > 0x5a) throw new Error(`bad TLCP-diff count character ${diff[pos - 1]}`);
      n = n * 26 + (c - 0x41);
    }
  };
  while (pos < diff.length) {
    const copy = read();
    if (basePos + copy > base.length) throw new Error('TLCP-diff copies past the end of the value');
    out += base.slice(basePos, basePos + copy);
    basePos += copy;
    if (pos >= diff.length) break;
    const add = read();
    if (pos + add > diff.length) throw new Error('TLCP-diff adds past its own end');
    out += diff.slice(pos, pos + add);
    pos += add;
    if (pos >= diff.length) break;
    basePos += read();
  }
  return out;
}

function varint(n: number): string {
  let s = String.fromCharCode(0x61 + (n % 26));
  for (n = Math.floor(n / 26); n > 0; n = Math.floor(n / 26)) s = String.fromCharCode(0x41 + (n % 26)) + s;
  return s;
}
