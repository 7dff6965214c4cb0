-- ARGV: prefix, now, tier
-- Reply: {places: [{conversation, cardholder}] in serving order, waits}.
local tier = ARGV[3]
local places = {}
for _, id in ipairs(redis.call('ZRANGE', k('q', tier), 0, -1)) do
  table.insert(places, {conversation = id, cardholder = redis.call('HGET', k('conv', id), 'cardholder') or ''})
end
return cjson.encode({places = places, waits = redis.call('LRANGE', k('waits', tier), 0, -1)})
