-- ARGV: prefix, now, node, member ('c:<id>' | 'a:<id>'), delta (1|-1), grace deadline
-- Reply: the member's connections left on this node.
local node, member, delta, deadline = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
redis.call('ZADD', k('nodes'), NOW, node)
nodes_changed()
local was_present = delta > 0 and present(member)
local h = k('presence', node)
local n = redis.call('HINCRBY', h, member, delta)
if n <= 0 then
  redis.call('HDEL', h, member)
end
if delta > 0 then
  redis.call('ZREM', k('grace'), member)
  if not was_present then
    came_online(member)
  end
elseif not present(member) then
  went_offline(member, deadline)
end
return cjson.encode(n)
