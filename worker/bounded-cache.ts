/**
 * Sets `key` in an isolate cache that never holds more than `limit` entries: the oldest insertion
 * goes first (a Map keeps insertion order), a cheap bound without an LRU.
 */
export function remember<V>(cache: Map<string, V>, limit: number, key: string, value: V): void {
  if (cache.size >= limit && !cache.has(key)) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}
