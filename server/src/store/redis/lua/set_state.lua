-- ARGV: prefix, now, agent, state (available|away), its availability scores when
--       idle since now (Rust's `store::order::AvailabilityScores`)
-- Reply: {ok}: false for an agent that never registered.
local sub, state, scores = ARGV[3], ARGV[4], ARGV[5]
local a = k('agent', sub)
if redis.call('EXISTS', a) == 0 then
  return cjson.encode({ok = false})
end
local was = redis.call('HGET', a, 'state')
if was ~= state then
  redis.call('HSET', a, 'state_since', NOW)
  if state == 'available' then
    redis.call('HSET', a, 'idle_since', NOW, 'scores', scores)
  end
end
redis.call('HSET', a, 'state', state)
agent_refresh(sub)
return cjson.encode({ok = true})
