-- ARGV: prefix, now, tier, conversation
-- Reply: {position (0 when not queued), depth, waits}: the place counts both
-- lines of the queue (`line_key`), so a disconnected cardholder keeps it.
local tier, id = ARGV[3], ARGV[4]
local position = 0
for _, line in ipairs({'q', 'away'}) do
  local rank = redis.call('ZSCORE', line_key(tier, line), id)
  if rank then
    position = redis.call('ZCOUNT', k('q', tier), '-inf', '(' .. rank)
      + redis.call('ZCOUNT', k('q', tier, 'away'), '-inf', '(' .. rank) + 1
  end
end
return cjson.encode({position = position, depth = queue_depth(tier),
  waits = redis.call('LRANGE', k('waits', tier), 0, -1)})
