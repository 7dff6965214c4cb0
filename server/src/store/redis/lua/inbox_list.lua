-- ARGV: prefix, now, 'inbox' | 'of' | 'stats', the team's tier | the cardholder | '',
--       most listed, then ('stats') the tiers
-- A team's inbox in order (earliest reply due first), a cardholder's
-- threads still kept (threads whose keys expired leave the set here), or
-- each tier inbox's depth and the time its longest-waiting thread came in.
-- Reply: [conversation fields, ...], or ('stats') [{tier, depth, since}, ...].
local mode, name, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out = {}
if mode == 'stats' then
  for i = 6, #ARGV do
    local inbox = k('inbox', ARGV[i])
    local since = ''
    for _, id in ipairs(redis.call('ZRANGE', inbox, 0, limit - 1)) do
      local at = redis.call('HGET', k('conv', id), 'queued_at')
      if at and (since == '' or tonumber(at) < tonumber(since)) then
        since = at
      end
    end
    table.insert(out, {tier = ARGV[i], depth = redis.call('ZCARD', inbox), since = since})
  end
elseif mode == 'inbox' then
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
