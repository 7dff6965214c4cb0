-- ARGV: prefix, conversation, agent, target tier, now
local id, agent, tier, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'agent')
if f[1] ~= 'active' or f[2] ~= agent then
  return {-1}
end
redis.call('SREM', k('agent', agent) .. ':convs', id)
agent_refresh(agent)
requeue_at_head(id, tier, now)
announce({'a:' .. agent}, ended_frame(id, 'transferred'))
return {1, redis.call('HGETALL', c)}
