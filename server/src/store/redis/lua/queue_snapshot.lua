-- ARGV: prefix, now, tier
-- Reply: {places: [{conversation, cardholder, queued_at}] in rank order (both
-- lines of the queue merged), waits}.
local tier = ARGV[3]
local places = {}
for _, id in ipairs(redis.call('ZUNION', 2, k('q', tier), k('q', tier, 'away'))) do
  local f = redis.call('HMGET', k('conv', id), 'cardholder', 'queued_at')
  table.insert(places, {conversation = id, cardholder = f[1] or '', queued_at = tonumber(f[2] or '0')})
end
return cjson.encode({places = places, waits = redis.call('LRANGE', k('waits', tier), 0, -1)})
