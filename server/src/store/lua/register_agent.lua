-- ARGV: prefix, agent, name, teams (comma-separated), max chats, now
-- Returns {state, {conversation, ...}}.
local sub, name, teams, max, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local a = k('agent', sub)
if redis.call('EXISTS', a) == 0 then
  redis.call('HSET', a, 'state', 'away', 'idle_since', now)
end
local old = redis.call('HGET', a, 'teams') or ''
for team in string.gmatch(old, '[^,]+') do
  redis.call('ZREM', k('avail', team), sub)
end
redis.call('HSET', a, 'name', name, 'teams', teams, 'max_chats', max)
agent_refresh(sub)
local convs = {}
for _, id in ipairs(redis.call('SMEMBERS', a .. ':convs')) do
  table.insert(convs, redis.call('HGETALL', k('conv', id)))
end
return {redis.call('HGET', a, 'state'), convs}
