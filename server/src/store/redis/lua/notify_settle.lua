-- ARGV: prefix, now, notification id, attempts (the lease it was taken
--       with), retry time in ms ('' to remove it: delivered or given up)
-- Settles a delivery attempt, only while that lease is still the
-- notification's own. Reply: true when settled.
local nid, attempts, retry_at = ARGV[3], ARGV[4], ARGV[5]
local h = k('notice', nid)
if redis.call('HGET', h, 'attempts') ~= attempts then
  return cjson.encode(false)
end
if retry_at == '' then
  redis.call('DEL', h)
  redis.call('ZREM', k('notify'), nid)
  redis.call('ZREM', k('notify', 'age'), nid)
else
  redis.call('ZADD', k('notify'), retry_at, nid)
end
return cjson.encode(true)
