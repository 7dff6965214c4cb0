-- ARGV: prefix, now, conversation, cardholder, seq
-- Records how far the cardholder read (never backwards, never past the end).
-- Reply: {ok}.
local id, sub, seq = ARGV[3], ARGV[4], tonumber(ARGV[5])
local c = k('conv', id)
local f = redis.call('HMGET', c, 'cardholder', 'last_seq', 'read_seq', 'status')
if f[1] ~= sub or f[4] == 'ended' then
  return cjson.encode({ok = false})
end
local read = math.max(tonumber(f[3] or '0'), math.min(seq, tonumber(f[2] or '0')))
redis.call('HSET', c, 'read_seq', read)
return cjson.encode({ok = true})
