-- ARGV: prefix, now, tier, conversation
-- Reply: {position (0 when not queued), depth, waits}.
local tier, id = ARGV[3], ARGV[4]
local rank = redis.call('ZRANK', k('q', tier), id)
local position = 0
if rank then
  position = rank + 1
end
return cjson.encode({position = position, depth = redis.call('ZCARD', k('q', tier)),
  waits = redis.call('LRANGE', k('waits', tier), 0, -1)})
