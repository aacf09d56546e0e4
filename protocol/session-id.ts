/**
 * Session ids carry the id of the shard that owns the session so the edge can route a control or
 * rebind request without any lookup: `<shardId>.<random>`.
 *
 * - shard ids are 1–32 chars of [A-Za-z0-9_-]; the random part is 24 bytes (192 bits) in base64url;
 * - neither part contains `,` or `%` (the client splits CONOK on commas and never percent-decodes);
 * - `.` separates them because it is in neither alphabet and survives query strings untouched.
 *
 * Knowing the shard from the id is not a secret: the edge only ever routes to configured shards, and
 * the random part is what makes an id unguessable.
 */
export const SHARD_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const SESSION_ID_PATTERN = /^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{32})$/;
const RANDOM_BYTES = 24;

export function isValidShardId(shardId: string): boolean {
  return SHARD_ID_PATTERN.test(shardId);
}

/** `randomBytes` is injected so this module stays free of I/O and runs in Node and workerd alike. */
export function newSessionId(shardId: string, randomBytes: (n: number) => Uint8Array): string {
  if (!isValidShardId(shardId)) throw new Error(`invalid shard id ${JSON.stringify(shardId)}`);
  return `${shardId}.${base64url(randomBytes(RANDOM_BYTES))}`;
}

/** The shard named by a session id, or null when the id is not of our format. */
export function shardOfSessionId(sessionId: string): string | null {
  const m = SESSION_ID_PATTERN.exec(sessionId);
  return m ? m[1] : null;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function base64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  return out;
}
