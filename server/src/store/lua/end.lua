-- ARGV: prefix, conversation, agent who ends it ('' = the cardholder or the hub), reason
-- Returns {1, conversation} when ended now, {0} when already over, {-1} when not found or not the agent's.
local id, by = ARGV[2], ARGV[3]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'agent')
if not f[1] or (by ~= '' and f[2] ~= by) then
  return {-1}
end
if end_conv(id, ARGV[4]) then
  return {1, redis.call('HGETALL', c)}
end
return {0}
