-- ARGV: prefix, now, agent, name, teams (comma-separated), max chats, its
--       availability scores when idle since now (Rust's
--       `store::order::AvailabilityScores`; kept when it registered before)
-- Reply: {state, conversations, presence}: with each chat, whether its
-- cardholder is 'online', 'away' (in the grace period) or 'gone'.
local sub, name, teams, max, scores = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local a = k('agent', sub)
if redis.call('EXISTS', a) == 0 then
  redis.call('HSET', a, 'state', 'away', 'state_since', NOW)
end
-- A new agent (or one from before agents kept their scores) is idle from now.
if redis.call('HEXISTS', a, 'scores') == 0 then
  redis.call('HSET', a, 'idle_since', NOW, 'scores', scores)
end
local old = redis.call('HGET', a, 'teams') or ''
for team in string.gmatch(old, '[^,]+') do
  redis.call('ZREM', k('avail', team), sub)
  redis.call('SREM', k('team', team), sub)
end
agent_online(sub, old, false)
for team in string.gmatch(teams, '[^,]+') do
  redis.call('SADD', k('team', team), sub)
end
agent_online(sub, teams, present('a:' .. sub))
redis.call('HSET', a, 'name', name, 'teams', teams, 'max_chats', max)
agent_refresh(sub)
local convs, presence = {}, {}
for _, set in ipairs({':convs', ':threads'}) do
  for _, id in ipairs(redis.call('SMEMBERS', a .. set)) do
    table.insert(convs, redis.call('HGETALL', k('conv', id)))
    local member = 'c:' .. (redis.call('HGET', k('conv', id), 'cardholder') or '')
    if present(member) then
      table.insert(presence, 'online')
    elseif redis.call('ZSCORE', k('grace'), member) then
      table.insert(presence, 'away')
    else
      table.insert(presence, 'gone')
    end
  end
end
return cjson.encode({state = redis.call('HGET', a, 'state'), conversations = convs,
  presence = presence})
