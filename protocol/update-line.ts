/**
 * The value list of a `U` notification: `v1|v2|…|vN`, exactly one token per schema field.
 *
 * - `undefined` (unchanged since the previous update of the item) is an empty token, and a run of
 *   three or more of them is `^n` (shorter from three on);
 * - `null` is `#`, the empty string is `$`;
 * - `|`, `%`, CR and LF are percent-encoded anywhere, `#`, `$` and `^` only in first position
 *   (where the client would read them as markers).
 *
 * The first `U` of an item must carry no unchanged marker at all (the client has nothing to keep and
 * disconnects with 61): callers pass full values for it. Kept allocation-light: this runs once per
 * update and schema on the fan-out path.
 */
export type UpdateValue = string | null | undefined;

/** Encodes a full or delta value list. */
export function encodeUpdateValues(values: readonly UpdateValue[]): string {
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
    out += encodeUpdateValue(v);
    i++;
  }
  return out;
}

export function encodeUpdateValue(v: string | null): string {
  if (v === null) return '#';
  if (v === '') return '$';
  const first = v.charCodeAt(0);
  const leadingMarker = first === 0x23 /* # */ || first === 0x24 /* $ */ || first === 0x5e; /* ^ */
  if (!leadingMarker && !needsEscape(v)) return v;
  let out = leadingMarker ? `%${first.toString(16).toUpperCase()}` : '';
  for (let i = leadingMarker ? 1 : 0; i < v.length; i++) {
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
