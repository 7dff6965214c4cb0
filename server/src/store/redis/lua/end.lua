-- ARGV: prefix, now, conversation, agent who ends it ('' = the cardholder or the hub), reason,
--       retention of the ended conversation (ms, or 'archive')
-- Reply: {found, ended, conversation}: found is false when there is no such
-- conversation or it is not the agent's; ended is false when it was already over.
local id, by, reason, retention = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'agent')
if not f[1] or (by ~= '' and f[2] ~= by) then
  return cjson.encode({found = false, ended = false})
end
local ended = end_conv(id, reason, retention)
return cjson.encode({found = true, ended = ended, conversation = redis.call('HGETALL', c)})
