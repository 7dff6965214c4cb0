-- ARGV: prefix, now, node, stale after ms, cardholder grace ms, agent grace ms,
--       reset own presence (1|0), epoch candidate, notice entry (JSON)
-- Marks this node alive and keeps the store epoch (set once: a new value
-- means the data was lost). Nodes silent for longer than the stale limit are
-- taken as dead: their connections are dropped, users left with no
-- connection anywhere get their grace periods as if they had disconnected,
-- and every active chat of such an agent gets the notice entry (announced
-- to its cardholder) in this same step.
-- Reply: {epoch, told = [conversation], revived = this node had been swept}.
local node, stale = ARGV[3], tonumber(ARGV[4])
local grace = {c = tonumber(ARGV[5]), a = tonumber(ARGV[6])}
local candidate, notice = ARGV[8], ARGV[9]
redis.call('SET', k('epoch'), candidate, 'NX')
local epoch = redis.call('GET', k('epoch'))
local dead = {}
for _, d in ipairs(redis.call('ZRANGEBYSCORE', k('nodes'), '-inf', NOW - stale)) do
  if d ~= node then
    table.insert(dead, d)
  end
end
if ARGV[7] == '1' then
  table.insert(dead, node)
end
-- A live node that others took for dead has lost its presence: it says so.
local revived = ARGV[7] ~= '1' and not redis.call('ZSCORE', k('nodes'), node)
redis.call('ZADD', k('nodes'), NOW, node)
nodes_changed()
local told = {}
for _, d in ipairs(dead) do
  local h = k('presence', d)
  local members = redis.call('HKEYS', h)
  -- UNLINK: a dead node's presence may name thousands of connections;
  -- Redis frees it in the background rather than inside this step.
  redis.call('UNLINK', h)
  if d ~= node then
    redis.call('ZREM', k('nodes'), d)
    nodes_changed()
  end
  for _, member in ipairs(members) do
    if not present(member) then
      went_offline(member, NOW + grace[string.sub(member, 1, 1)])
      local user = string.sub(member, 3)
      if string.sub(member, 1, 1) == 'a' and d ~= node then
        for _, id in ipairs(redis.call('SMEMBERS', k('agent', user) .. ':convs')) do
          local f = redis.call('HMGET', k('conv', id), 'status', 'cardholder', 'agent')
          if f[1] == 'active' and f[3] == user then
            append_entry(id, 'system', '', notice)
            table.insert(told, id)
          end
        end
      end
    end
  end
end
return cjson.encode({epoch = epoch, told = told, revived = revived})
