-- ARGV: prefix, now, conversation, agent, target tier, end reason for the agent,
--       the agent's note for the next one ('' none), then pairs of (card tier, inbox
--       rank now): a message thread goes back to an inbox
-- Reply: {ok, conversation}.
local id, agent, tier, reason, note = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'agent', 'kind')
if f[1] ~= 'active' or f[2] ~= agent then
  return cjson.encode({ok = false})
end
-- Entries stored before the move (held for replicas) go out first, to whoever
-- monitored the chat then; monitors who do not supervise `tier` stop before
-- anything else is announced.
release(id)
monitors_follow(id, tier)
if f[3] == 'message' then
  redis.call('SREM', k('agent', agent) .. ':threads', id)
  to_inbox(id, tier, 8, note)
else
  redis.call('SREM', k('agent', agent) .. ':convs', id)
  agent_refresh(agent)
  requeue_at_head(id, tier, note)
end
announce_about({'a:' .. agent}, id, EVENT.ended[reason])
return cjson.encode({ok = true, conversation = redis.call('HGETALL', c)})
