/**
 * The value list of a `U` notification: `v1|v2|…|vN`, exactly one token per schema field.
 *
 * - `undefined` (unchanged since the previous update of the item) is an empty token, and a run of
 *   three or more of them is `^n` (shorter from three on);
 * - `null` is `#`, the empty string is `$`;
 * - `|`, `%`, CR and LF are percent-encoded anywhere, `#`, `$` and `^` only in first position
 *   (where the client would read them as markers).
 *
 * - a delta (`{ patch, text }`) is `^P` (JSON Patch) or `^T` (TLCP-diff) and its text, percent-encoded
 *   as values are.
 *
 * The first `U` of an item must carry no unchanged marker or delta at all (the client has nothing to
 * keep or patch and disconnects with 61): callers pass full values for it. Kept allocation-light:
 * this runs once per update and schema on the fan-out path.
 */
export type UpdateValue = string | null | undefined;
/** A field's new value as a difference from the previous one the client holds. */
export interface DeltaValue {
  readonly patch: 'json' | 'diff';
  readonly text: string;
}

/** Encodes a full or delta value list. */
export function encodeUpdateValues(values: readonly (UpdateValue | DeltaValue)[]): string {
  let out = '';
  const n = values.length;
  let i = 0;
  while (i < n) {
    if (i > 0) out += '|';
    const v = values[i];
    if (v === undefined) {
      let run = 1;
      while (i + run < n && values[i + run] === undefined) run++;
      if (run >= 3) {
        out += `^${run}`;
        i += run;
      } else {
        // The empty token itself is the marker; the separators written above and next carry the run.
        i++;
        for (let k = 1; k < run; k++, i++) out += '|';
      }
      continue;
    }
    out += typeof v === 'object' && v !== null ? encodeDeltaValue(v) : encodeUpdateValue(v);
    i++;
  }
  return out;
}

export function encodeUpdateValue(v: string | null): string {
  if (v === null) return '#';
  if (v === '') return '$';
  const first = v.charCodeAt(0);
  const leadingMarker = first === 0x23 /* # */ || first === 0x24 /* $ */ || first === 0x5e; /* ^ */
  if (!leadingMarker) return needsEscape(v) ? escape(v) : v;
  return `%${first.toString(16).toUpperCase()}${escape(v.slice(1))}`;
}

/**
 * `LS_supported_diffs` of a create: the delta formats the client accepts, as the tags of their
 * markers (`P`, `T`), comma-separated; unknown tags are ignored. Absent: the server may use any
 * (null); empty: none.
 */
export function readSupportedDeltas(value: string | undefined): ReadonlySet<DeltaValue['patch']> | null {
  if (value === undefined) return null;
  const kinds = new Set<DeltaValue['patch']>();
  for (const tag of value.split(',')) {
    if (tag.trim() === 'P') kinds.add('json');
    else if (tag.trim() === 'T') kinds.add('diff');
  }
  return kinds;
}

export function encodeDeltaValue(delta: DeltaValue): string {
  return (delta.patch === 'json' ? '^P' : '^T') + (needsEscape(delta.text) ? escape(delta.text) : delta.text);
}

function escape(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x7c) out += '%7C';
    else if (c === 0x25) out += '%25';
    else if (c === 0x0d) out += '%0D';
    else if (c === 0x0a) out += '%0A';
    else out += v[i];
  }
  return out;
}

function needsEscape(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x7c || c === 0x25 || c === 0x0d || c === 0x0a) return true;
  }
  return false;
}

/**
 * The value list of a `U` line as the official client reads it: per field a value (`null` for `#`,
 * `""` for `$`), or `undefined` where the field is unchanged (an empty token, or `^n` for n fields).
 * Delta tokens (`^P` JSON Patch, `^T` TLCP-diff) are returned as `{ patch }` for the caller to apply
 * to the field's previous value.
 */
export type DecodedValue = UpdateValue | DeltaValue;

export function decodeUpdateValues(values: string): DecodedValue[] {
  const out: DecodedValue[] = [];
  let start = 0;
  for (;;) {
    let end = values.indexOf('|', start);
    if (end < 0) end = values.length;
    const token = values.slice(start, end);
    if (token === '') out.push(undefined);
    else if (token === '#') out.push(null);
    else if (token === '$') out.push('');
    else if (token[0] === '^') {
      if (token[1] === 'P') out.push({ patch: 'json', text: unquote(token.slice(2)) });
      else if (token[1] === 'T') out.push({ patch: 'diff', text: unquote(token.slice(2)) });
      else for (let n = Number(token.slice(1)); n > 0; n--) out.push(undefined);
    } else out.push(unquote(token));
    if (end === values.length) return out;
    start = end + 1;
  }
}

const utf8 = new TextDecoder();

/** Percent-decoding of a TLCP field as the official client does it: %XX bytes, then UTF-8. */
export function unquote(s: string): string {
  if (!s.includes('%')) return s;
  const bytes = new TextEncoder().encode(s);
  let j = 0;
  for (let i = 0; i < bytes.length; ) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length) {
      bytes[j++] = (hex(bytes[i + 1]) << 4) | hex(bytes[i + 2]);
      i += 3;
    } else bytes[j++] = bytes[i++];
  }
  return utf8.decode(bytes.subarray(0, j));
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return 0;
}
