-- ARGV: prefix, now, batch size, recent waits kept, most transcript entries in an
--       `assigned` event, queue places looked at for a connected cardholder, then
--       pairs of (tier, boost in queue-score units)
-- Pairs queued conversations with agents in one atomic step: repeatedly the
-- queue head with the lowest routing priority (score - boost, Rust's
-- `store::routing_priority`: the greatest effective wait) that some
-- available agent serves goes to that tier's best agent (fewest active
-- chats, then idle longest). A queue's "head" is its first conversation
-- whose cardholder is connected (among the first `scan`); a disconnected
-- one keeps its place for its grace period but is served after them. Each
-- pairing's `assigned` event is published here, in the same atomic step, so
-- that no later event about the conversation (a `msg`, an `ended`) can
-- reach a client before it.
-- Reply: [{waited_ms, conversation}, ...].
local batch, keep, page, scan = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local tiers = {}
for i = 7, #ARGV, 2 do
  table.insert(tiers, {name = ARGV[i], boost = tonumber(ARGV[i + 1])})
end

-- Whether a queued conversation's cardholder is disconnected (in its grace period).
local function away(id)
  local cardholder = redis.call('HGET', k('conv', id), 'cardholder')
  return cardholder and redis.call('ZSCORE', k('grace'), 'c:' .. cardholder) ~= false
end

-- The first queued conversation of a tier whose cardholder is connected, or
-- else its first one: {id, score}.
local function head_of(tier)
  local places = redis.call('ZRANGE', k('q', tier), 0, scan - 1, 'WITHSCORES')
  for i = 1, #places, 2 do
    if not away(places[i]) then
      return places[i], places[i + 1]
    end
  end
  return places[1], places[2]
end

local out = {}
local steps = 0
while #out < batch and steps < batch * 4 do
  steps = steps + 1
  local best
  for _, t in ipairs(tiers) do
    local agent = redis.call('ZRANGE', k('avail', t.name), 0, 0)
    if agent[1] then
      local id, score = head_of(t.name)
      if id then
        local priority = tonumber(score) - t.boost
        if not best or priority < best.priority then
          best = {priority = priority, tier = t.name, id = id, agent = agent[1]}
        end
      end
    end
  end
  if not best then
    break
  end
  local c = k('conv', best.id)
  local a = k('agent', best.agent)
  if redis.call('HGET', c, 'status') ~= 'queued' then
    -- Not waiting any more (a stale queue entry): drop it and look again.
    redis.call('ZREM', k('q', best.tier), best.id)
  elseif redis.call('EXISTS', a) == 0 then
    redis.call('ZREM', k('avail', best.tier), best.agent)
  else
    redis.call('ZREM', k('q', best.tier), best.id)
    take_up(best.id, best.agent, a)
    redis.call('SADD', a .. ':convs', best.id)
    redis.call('HSET', a, 'idle_since', NOW)
    agent_refresh(best.agent)
    local waited = NOW - tonumber(redis.call('HGET', c, 'queued_at') or NOW)
    redis.call('LPUSH', k('waits', best.tier), waited)
    redis.call('LTRIM', k('waits', best.tier), 0, keep - 1)
    local conversation = announce_assigned(best.id, best.agent, waited, page)
    table.insert(out, {waited_ms = waited, conversation = conversation})
  end
end
return cjson.encode(out)
