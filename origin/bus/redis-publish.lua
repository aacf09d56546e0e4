-- edgepush: publish one update of one item, atomically (see README.md, "One feed across shards").
-- One script run per update gives every shard the same order: the seq it assigns is the order.
--
-- KEYS[1] <prefix>{<item>}:meta     hash: seq, epoch
-- KEYS[2] <prefix>{<item>}:merged   hash: field -> JSON string or JSON null
-- KEYS[3] <prefix>{<item>}:history  list: event JSON, oldest first
-- KEYS[4] <prefix>{<item>}:rows     hash: COMMAND key -> row JSON object
-- KEYS[5] <prefix>{<item>}:order    zset: COMMAND key scored by the seq of its ADD
-- ARGV[1] item name
-- ARGV[2] fields: JSON object mapping field names to strings or null
-- ARGV[3] history size (events kept; 0 keeps none)
-- ARGV[4] epoch to give the item if it does not exist yet (any unique string, e.g. a UUID)
-- ARGV[5] expected current seq, or "" to publish unconditionally
-- ARGV[6] channel: <prefix>{<item>}:events
-- ARGV[7] optional: "clear" empties the item's snapshot (merged, rows, history) instead of folding
--         fields in; ARGV[2] must then be {}. The event carries "clear":true.
-- Returns the new seq, or -1 when ARGV[5] is set and differs from the item's seq.

local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= seq then
  return -1
end

local clear = ARGV[7] == 'clear'
if not string.match(ARGV[2], '^%s*{') then
  return redis.error_reply('fields must be a JSON object')
end
local decoded, fields = pcall(cjson.decode, ARGV[2])
if not decoded or type(fields) ~= 'table' then
  return redis.error_reply('fields must be a JSON object')
end
for name, value in pairs(fields) do
  if type(name) ~= 'string' or (type(value) ~= 'string' and value ~= cjson.null) then
    return redis.error_reply('fields must map names to strings or null')
  end
end

if clear and next(fields) ~= nil then
  return redis.error_reply('a clear carries no fields')
end

local epoch = redis.call('HGET', KEYS[1], 'epoch') or ARGV[4]
seq = seq + 1
redis.call('HSET', KEYS[1], 'seq', seq, 'epoch', epoch)

if clear then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  -- The clear stays first in the history, so a shard that missed it repairs the gap by replaying it.
  local event = '{"item":' .. cjson.encode(ARGV[1]) .. ',"seq":' .. seq .. ',"epoch":' .. cjson.encode(epoch)
    .. ',"fields":{},"clear":true}'
  if tonumber(ARGV[3]) > 0 then
    redis.call('RPUSH', KEYS[3], event)
  end
  redis.call('PUBLISH', ARGV[6], event)
  return seq
end

for name, value in pairs(fields) do
  redis.call('HSET', KEYS[2], name, cjson.encode(value))
end

local key, command = fields['key'], fields['command']
if type(key) == 'string' then
  if command == 'ADD' or command == 'UPDATE' then
    local previous = redis.call('HGET', KEYS[4], key)
    local row = previous and cjson.decode(previous) or {}
    for name, value in pairs(fields) do
      row[name] = value
    end
    -- A held row is what a snapshot presents, and a snapshot presents rows as ADD.
    row['command'] = 'ADD'
    redis.call('HSET', KEYS[4], key, cjson.encode(row))
    if not previous then
      redis.call('ZADD', KEYS[5], seq, key)
    end
  elseif command == 'DELETE' then
    redis.call('HDEL', KEYS[4], key)
    redis.call('ZREM', KEYS[5], key)
  end
end

-- The caller's JSON goes out verbatim: it was validated above and re-encoding would reorder it.
local event = '{"item":' .. cjson.encode(ARGV[1]) .. ',"seq":' .. seq .. ',"epoch":' .. cjson.encode(epoch)
  .. ',"fields":' .. ARGV[2] .. '}'
local size = tonumber(ARGV[3])
if size > 0 then
  redis.call('RPUSH', KEYS[3], event)
  redis.call('LTRIM', KEYS[3], -size, -1)
else
  redis.call('DEL', KEYS[3])
end
redis.call('PUBLISH', ARGV[6], event)
return seq
