-- ARGV: prefix, node, member ('c:<sub>' | 'a:<sub>'), delta (1|-1), now, grace deadline
local node, member, delta, now, deadline = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
redis.call('ZADD', k('nodes'), now, node)
local h = k('presence', node)
local n = redis.call('HINCRBY', h, member, delta)
if n <= 0 then
  redis.call('HDEL', h, member)
end
if delta > 0 then
  redis.call('ZREM', k('grace'), member)
elseif not present(member) then
  went_offline(member, deadline)
end
return n
