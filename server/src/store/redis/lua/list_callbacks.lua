-- ARGV: prefix, now, 'desk' | 'sub' | 'done', desk or cardholder or agent,
--       ('done') closed since (ms)
-- Reply: the open requests: a desk's in desk order, or a cardholder's; or
-- the requests an agent closed since then, newest first (those the store
-- still holds).
local refs
if ARGV[3] == 'desk' then
  refs = redis.call('ZRANGE', k('cbdesk', ARGV[4]), 0, -1)
elseif ARGV[3] == 'done' then
  refs = redis.call('ZRANGEBYSCORE', k('cbdone', ARGV[4]), ARGV[5], '+inf')
  local newest_first = {}
  for i = #refs, 1, -1 do
    table.insert(newest_first, refs[i])
  end
  refs = newest_first
else
  refs = redis.call('SMEMBERS', k('cbof', ARGV[4]))
end
local out = {}
for _, ref in ipairs(refs) do
  local r = redis.call('HGETALL', k('cb', ref))
  if r[1] then
    table.insert(out, r)
  end
end
return cjson.encode(out)
