/**
 * JSON Patch values (TLCP 2.5.0, `^P`): a new JSON value as the RFC 6902 operations that turn the
 * previous one into it. The client applies them to the previous value parsed, so it ends with an
 * equal JSON value, not necessarily the same text. Built and applied with fast-json-patch.
 */
import jsonPatch, { type Operation } from 'fast-json-patch';

/**
 * The patch turning JSON text `from` into `to`, as JSON text; null where none applies: either is no
 * JSON object or array (a patch of a scalar is the value itself) or not JSON at all, or one is an
 * object and the other an array.
 */
export function encodeJsonPatch(from: string, to: string): string | null {
  const before = parseContainer(from);
  if (before === null) return null;
  const after = parseContainer(to);
  // An object into an array (or back) is no patch but the whole value again.
  if (after === null || Array.isArray(before) !== Array.isArray(after)) return null;
  try {
    const ops = jsonPatch.compare(before, after);
    // Texts that differ only where numbers lose precision once parsed: no patch says so; the text does.
    return ops.length === 0 && from !== to ? null : JSON.stringify(ops);
  } catch {
    // Nesting deeper than the stack (compare recurses): sent whole.
    return null;
  }
}

/** Applies a patch to a JSON text; throws on a patch that does not apply. */
export function applyJsonPatch(base: string, patch: string): string {
  return JSON.stringify(jsonPatch.applyPatch(JSON.parse(base), JSON.parse(patch) as Operation[], true, false).newDocument);
}

function parseContainer(text: string): object | null {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? value : null;
  } catch {
    return null;
  }
}
