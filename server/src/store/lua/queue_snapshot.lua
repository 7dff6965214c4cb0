-- ARGV: prefix, tier
-- Returns {{conversation, cardholder}, ...} in serving order, and recent waits.
local tier = ARGV[2]
local places = {}
for _, id in ipairs(redis.call('ZRANGE', k('q', tier), 0, -1)) do
  table.insert(places, {id, redis.call('HGET', k('conv', id), 'cardholder') or ''})
end
return {places, redis.call('LRANGE', k('waits', tier), 0, -1)}
