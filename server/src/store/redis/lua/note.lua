-- ARGV: prefix, now, conversation, agent, note (JSON, built by Rust), most notes kept,
--       the `note` event (built by Rust) to announce
-- Adds an internal note to an active chat held by the agent and announces
-- it to the agent and the supervisors monitoring the chat, never to the
-- cardholder.
-- Reply: {outcome = 'none' | 'full' | 'noted', conversation}.
local id, agent, note, most, event = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'agent', 'notes')
if f[1] ~= 'active' or f[2] ~= agent then
  return cjson.encode({outcome = 'none'})
end
if f[3] and #cjson.decode(f[3]) >= most then
  return cjson.encode({outcome = 'full'})
end
push_json(c, 'notes', note)
announce(with_monitors(id, {'a:' .. agent}), event)
return cjson.encode({outcome = 'noted', conversation = redis.call('HGETALL', c)})
