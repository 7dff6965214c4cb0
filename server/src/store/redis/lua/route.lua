-- ARGV: prefix, now, batch size, recent waits kept, most transcript entries in an
--       `assigned` event, the availability scores of an agent idle since now
--       (Rust's `store::order::AvailabilityScores`), then the tiers
-- Pairs queued conversations with agents in one atomic step: repeatedly the
-- lowest-ranked queue head (ranks are Rust's `store::order::QueueRanks`,
-- boosts and returning chats included) that some available agent serves
-- goes to that tier's first agent (scores are Rust's too: fewest active
-- chats, then idle longest). A queue's head is its connected line's first,
-- else its away line's (`queue_head`). Each pairing's `assigned` event is
-- published here, in the same atomic step, so that no later event about the
-- conversation (a `msg`, an `ended`) can reach a client before it.
-- Reply: [{waited_ms, conversation}, ...].
local batch, keep, page, scores = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local tiers = {}
for i = 7, #ARGV do
  table.insert(tiers, ARGV[i])
end

local out = {}
local steps = 0
while #out < batch and steps < batch * 4 do
  steps = steps + 1
  local best
  for _, tier in ipairs(tiers) do
    local agent = redis.call('ZRANGE', k('avail', tier), 0, 0)
    if agent[1] then
      local id, rank = queue_head(tier)
      if id then
        rank = tonumber(rank)
        if not best or rank < best.rank then
          best = {rank = rank, tier = tier, id = id, agent = agent[1]}
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
    leave_queue(best.tier, best.id)
  elseif redis.call('EXISTS', a) == 0 then
    redis.call('ZREM', k('avail', best.tier), best.agent)
  else
    leave_queue(best.tier, best.id)
    take_up(best.id, best.agent, a)
    redis.call('SADD', a .. ':convs', best.id)
    redis.call('HSET', a, 'idle_since', NOW, 'scores', scores)
    agent_refresh(best.agent)
    local waited = NOW - tonumber(redis.call('HGET', c, 'queued_at') or NOW)
    redis.call('LPUSH', k('waits', best.tier), waited)
    redis.call('LTRIM', k('waits', best.tier), 0, keep - 1)
    local conversation = announce_assigned(best.id, best.agent, waited, page)
    table.insert(out, {waited_ms = waited, conversation = conversation})
  end
end
return cjson.encode(out)
