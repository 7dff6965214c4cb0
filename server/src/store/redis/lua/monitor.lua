-- ARGV: prefix, now, conversation, supervisor (presence member 's:<id>'), on ('1'|'0')
-- Reply: {ok, conversation}: ok is false for an unknown or ended conversation.
local id, member, on = ARGV[3], ARGV[4], ARGV[5] == '1'
local c = k('conv', id)
local status = redis.call('HGET', c, 'status')
if on and (not status or status == 'ended') then
  return cjson.encode({ok = false})
end
if on then
  redis.call('SADD', c .. ':monitors', member)
else
  redis.call('SREM', c .. ':monitors', member)
end
if not status then
  return cjson.encode({ok = false})
end
return cjson.encode({ok = true, conversation = redis.call('HGETALL', c)})
