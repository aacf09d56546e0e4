-- edgepush: put back an item a shard still holds after Redis lost it (restarted without
-- persistence). Writes nothing if the item exists: whoever publishes or restores first wins.
-- KEYS as in redis-publish.lua. ARGV[1]: JSON {seq: "n", epoch, merged: {field: string|null},
-- history: [event JSON strings], rows: [[key, {field: string|null}], ...]}. Returns 1 if restored.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local state = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], 'seq', state.seq, 'epoch', state.epoch)
for name, value in pairs(state.merged) do
  redis.call('HSET', KEYS[2], name, cjson.encode(value))
end
for _, event in ipairs(state.history) do
  redis.call('RPUSH', KEYS[3], event)
end
for position, row in ipairs(state.rows) do
  redis.call('HSET', KEYS[4], row[1], cjson.encode(row[2]))
  redis.call('ZADD', KEYS[5], position, row[1])
end
return 1
