-- ARGV: prefix, now, conversation, agent, end reason ('resolved'), retention of the
--       resolved thread (ms, or 'archive')
-- Resolves a thread the agent holds: `ended` (resolved) to both sides and its
-- monitors, then status `resolved` (not `ended`: the cardholder's next
-- message reopens it, see append.lua) and handed over like an ended
-- conversation (`hand_over`: expires after the retention, or archived).
-- Reply: {ok, conversation}.
local id, agent, reason, retention = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'cardholder', 'agent', 'kind')
if f[1] ~= 'active' or f[3] ~= agent or f[4] ~= 'message' then
  return cjson.encode({ok = false})
end
release(id)
announce_about(with_monitors(id, both_sides(f[1], f[2], f[3])), id, EVENT.ended[reason])
drop_monitors(c)
redis.call('SREM', k('agent', agent) .. ':threads', id)
redis.call('HSET', c, 'status', 'resolved', 'ended_at', NOW, 'end_reason', reason)
-- It keeps `agent_name` (who answered it, for the archive and history).
redis.call('HDEL', c, 'agent')
hand_over('conv', id, {c, k('tx', id), k('tx', id) .. ':keys'}, retention)
return cjson.encode({ok = true, conversation = redis.call('HGETALL', c)})
