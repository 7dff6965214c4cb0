-- ARGV: prefix, agent, state (available|away), now
local sub, state, now = ARGV[2], ARGV[3], ARGV[4]
local a = k('agent', sub)
if redis.call('EXISTS', a) == 0 then
  return -1
end
if state == 'available' and redis.call('HGET', a, 'state') ~= 'available' then
  redis.call('HSET', a, 'idle_since', now)
end
redis.call('HSET', a, 'state', state)
agent_refresh(sub)
return 1
