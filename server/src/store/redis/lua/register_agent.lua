-- ARGV: prefix, now, agent, name, teams (comma-separated), max chats
-- Reply: {state, conversations}.
local sub, name, teams, max = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local a = k('agent', sub)
if redis.call('EXISTS', a) == 0 then
  redis.call('HSET', a, 'state', 'away', 'idle_since', NOW, 'state_since', NOW)
end
local old = redis.call('HGET', a, 'teams') or ''
for team in string.gmatch(old, '[^,]+') do
  redis.call('ZREM', k('avail', team), sub)
  redis.call('SREM', k('team', team), sub)
end
for team in string.gmatch(teams, '[^,]+') do
  redis.call('SADD', k('team', team), sub)
end
redis.call('HSET', a, 'name', name, 'teams', teams, 'max_chats', max)
agent_refresh(sub)
local convs = {}
for _, set in ipairs({':convs', ':threads'}) do
  for _, id in ipairs(redis.call('SMEMBERS', a .. set)) do
    table.insert(convs, redis.call('HGETALL', k('conv', id)))
  end
end
return cjson.encode({state = redis.call('HGET', a, 'state'), conversations = convs})
