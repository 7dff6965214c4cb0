-- ARGV: prefix, 'desk' | 'sub', desk or cardholder
-- Returns the open requests: a desk's in desk order, or a cardholder's.
local refs
if ARGV[2] == 'desk' then
  refs = redis.call('ZRANGE', k('cbdesk', ARGV[3]), 0, -1)
else
  refs = redis.call('SMEMBERS', k('cbof', ARGV[3]))
end
local out = {}
for _, ref in ipairs(refs) do
  local st = redis.call('HGET', k('cb', ref), 'status')
  if st == 'requested' or st == 'claimed' or st == 'no_answer' then
    table.insert(out, redis.call('HGETALL', k('cb', ref)))
  end
end
return out
