-- ARGV: prefix, now, 'inbox' | 'of', the team's tier | the cardholder, most listed
-- A team's inbox in order (earliest reply due first), or a cardholder's
-- threads still kept (threads whose keys expired leave the set here).
-- Reply: [conversation fields, ...].
local mode, name, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out = {}
if mode == 'inbox' then
  for _, id in ipairs(redis.call('ZRANGE', k('inbox', name), 0, limit - 1)) do
    local f = redis.call('HGETALL', k('conv', id))
    if #f > 0 then
      table.insert(out, f)
    end
  end
else
  local set = k('threads', name)
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local f = redis.call('HGETALL', k('conv', id))
    if #f > 0 then
      table.insert(out, f)
    else
      redis.call('SREM', set, id)
    end
  end
end
return cjson.encode(out)
