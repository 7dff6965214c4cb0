-- ARGV: prefix, now, tiers (comma-separated), desks (comma-separated), teams whose agents
--       are listed (comma-separated)
-- Reply: {queues: [{tier, depth, since, waits}], agents: [{sub, name, state, since,
--         max_chats, teams, online, conversations}], desks: [{desk, open}]}
-- Read from indexes only: the tier queues, the recent waits, the team sets,
-- the agents' hashes and chat sets, the desks' open indexes.
local queues, agents, desks = {}, {}, {}
for tier in string.gmatch(ARGV[3], '[^,]+') do
  table.insert(queues, {tier = tier, depth = queue_depth(tier), since = head_since(tier),
    waits = redis.call('LRANGE', k('waits', tier), 0, -1)})
end
for desk in string.gmatch(ARGV[4], '[^,]+') do
  table.insert(desks, {desk = desk, open = redis.call('ZCARD', k('cbdesk', desk))})
end
local seen = {}
for team in string.gmatch(ARGV[5], '[^,]+') do
  for _, sub in ipairs(redis.call('SMEMBERS', k('team', team))) do
    if not seen[sub] then
      seen[sub] = true
      local a = k('agent', sub)
      local f = redis.call('HMGET', a, 'name', 'state', 'state_since', 'max_chats', 'teams')
      if f[2] then
        table.insert(agents, {sub = sub, name = f[1] or sub, state = f[2], since = f[3] or '0',
          max_chats = f[4] or '0', teams = f[5] or '', online = present('a:' .. sub),
          conversations = redis.call('SMEMBERS', a .. ':convs')})
      end
    end
  end
end
return cjson.encode({queues = queues, agents = agents, desks = desks})
