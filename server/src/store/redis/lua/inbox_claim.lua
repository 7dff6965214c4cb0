-- ARGV: prefix, now, conversation, agent, most transcript entries in `assigned`,
--       then the tiers whose inboxes the agent serves
-- Claims a waiting thread: one step, so of many claimers exactly one wins.
-- The winner's `assigned` goes to both sides here, as routing's does. A
-- claimed thread is in `agent:<sub>:threads`, not in its live chat slots.
-- Reply: {outcome = 'won' | 'taken' | 'missing', conversation, waited_ms}.
local id, agent, page = ARGV[3], ARGV[4], tonumber(ARGV[5])
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'kind', 'tier', 'queued_at')
local serves = false
for i = 6, #ARGV do
  if ARGV[i] == f[3] then
    serves = true
  end
end
if not f[1] or f[2] ~= 'message' or not serves then
  return cjson.encode({outcome = 'missing'})
end
local a = k('agent', agent)
if f[1] ~= 'queued' or redis.call('EXISTS', a) == 0 then
  return cjson.encode({outcome = 'taken'})
end
redis.call('ZREM', k('inbox', f[3]), id)
take_up(id, agent, a)
redis.call('SADD', a .. ':threads', id)
local waited = NOW - tonumber(f[4] or NOW)
local conversation = announce_assigned(id, agent, waited, page)
return cjson.encode({outcome = 'won', conversation = conversation, waited_ms = waited})
