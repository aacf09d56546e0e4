-- edgepush: read one item's whole state in one step, so it describes exactly one seq.
-- KEYS as in redis-publish.lua. Returns {seq, epoch, merged (flat field/JSON pairs),
-- history (event JSON list), row keys in ADD order, rows (flat key/row JSON pairs)}.
local meta = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
return {
  meta[1] or '0',
  meta[2] or '',
  redis.call('HGETALL', KEYS[2]),
  redis.call('LRANGE', KEYS[3], 0, -1),
  redis.call('ZRANGE', KEYS[5], 0, -1),
  redis.call('HGETALL', KEYS[4]),
}
