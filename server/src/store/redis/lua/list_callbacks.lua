-- ARGV: prefix, now, 'desk' | 'sub', desk or cardholder
-- Reply: the open requests: a desk's in desk order, or a cardholder's.
local refs
if ARGV[3] == 'desk' then
  refs = redis.call('ZRANGE', k('cbdesk', ARGV[4]), 0, -1)
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
