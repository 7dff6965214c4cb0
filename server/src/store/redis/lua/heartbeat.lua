-- ARGV: prefix, now, node, stale after ms, cardholder grace ms, agent grace ms,
--       reset own presence (1|0)
-- Marks this node alive. Nodes silent for longer than the stale limit are
-- taken as dead: their connections are dropped, and users left with no
-- connection anywhere get their grace periods as if they had disconnected.
-- Reply: how many nodes were swept.
local node, stale = ARGV[3], tonumber(ARGV[4])
local grace = {c = tonumber(ARGV[5]), a = tonumber(ARGV[6])}
local dead = {}
for _, d in ipairs(redis.call('ZRANGEBYSCORE', k('nodes'), '-inf', NOW - stale)) do
  if d ~= node then
    table.insert(dead, d)
  end
end
if ARGV[7] == '1' then
  table.insert(dead, node)
end
redis.call('ZADD', k('nodes'), NOW, node)
local swept = 0
for _, d in ipairs(dead) do
  local h = k('presence', d)
  local members = redis.call('HKEYS', h)
  redis.call('DEL', h)
  if d ~= node then
    redis.call('ZREM', k('nodes'), d)
  end
  for _, member in ipairs(members) do
    if not present(member) then
      went_offline(member, NOW + grace[string.sub(member, 1, 1)])
    end
  end
  swept = swept + 1
end
return cjson.encode(swept)
