-- ARGV: prefix, now, conversation, callback ref, system message entry JSON, end reason,
--       retention of the ended conversation (ms, or 'archive'), the request's desk
-- Ends a chat as escalated in one step: the system message, `escalated`
-- (with the request) to the cardholder, `ended` to both sides.
-- Reply: {ended, conversation}; ended is false when it was already over.
local id, ref, entry, reason, retention, desk = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'cardholder', 'agent')
if not f[1] or f[1] == 'ended' or redis.call('EXISTS', k('cb', ref)) == 0 then
  return cjson.encode({ended = false})
end
-- The chat leaves for the desk: monitors who do not supervise it stop first.
release(id)
monitors_follow(id, desk)
append_entry(id, 'system', '', entry)
redis.call('HSET', c, 'callback', ref)
-- The request as HGETALL lists it (data, in Lua's JSON), for the cardholder.
announce({'c:' .. f[2]}, EVENT.escalated,
  {US, 'conversation=', id, US, 'request@', cjson.encode(redis.call('HGETALL', k('cb', ref)))})
end_conv(id, reason, retention)
return cjson.encode({ended = true, conversation = redis.call('HGETALL', c)})
