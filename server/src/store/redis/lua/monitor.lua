-- ARGV: prefix, now, conversation, supervisor (presence member 's:<id>'), on ('1'|'0')
-- Reply: {ok, conversation}: ok is false for an unknown or ended conversation.
local id, member, on = ARGV[3], ARGV[4], ARGV[5] == '1'
local c = k('conv', id)
local status = redis.call('HGET', c, 'status')
if on and (not status or status == 'ended') then
  return cjson.encode({ok = false})
end
-- Counted per supervisor: each monitoring connection adds one, each that
-- stops takes one; the supervisor hears the chat while any is left.
if on then
  redis.call('HINCRBY', c .. ':monitors', member, 1)
elseif tonumber(redis.call('HINCRBY', c .. ':monitors', member, -1)) <= 0 then
  redis.call('HDEL', c .. ':monitors', member)
end
if not status then
  return cjson.encode({ok = false})
end
monitors_changed(c)
return cjson.encode({ok = true, conversation = redis.call('HGETALL', c)})
