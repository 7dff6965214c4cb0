-- ARGV: prefix, tier, conversation
-- Returns {position (0 when not queued), depth, {recent waits}}.
local tier, id = ARGV[2], ARGV[3]
local rank = redis.call('ZRANK', k('q', tier), id)
local position = 0
if rank then
  position = rank + 1
end
return {position, redis.call('ZCARD', k('q', tier)), redis.call('LRANGE', k('waits', tier), 0, -1)}
