-- ARGV: prefix, now, boost ms for standard, premium, business, prepaid, batch size, recent waits kept
-- Pairs queued conversations with agents in one atomic step: repeatedly the
-- queue head with the greatest effective wait (now - enqueued + boost) that
-- some available agent serves goes to that tier's best agent (fewest active
-- chats, then idle longest). Returns {{waited ms, conversation}, ...}.
local now = tonumber(ARGV[2])
local boost = {
  standard = tonumber(ARGV[3]), premium = tonumber(ARGV[4]),
  business = tonumber(ARGV[5]), prepaid = tonumber(ARGV[6]),
}
local batch, keep = tonumber(ARGV[7]), tonumber(ARGV[8])
local out = {}
for _ = 1, batch do
  local best
  for _, t in ipairs(TIERS) do
    local head = redis.call('ZRANGE', k('q', t), 0, 0, 'WITHSCORES')
    if head[1] then
      local agent = redis.call('ZRANGE', k('avail', t), 0, 0)
      if agent[1] then
        local wait = now - math.floor(tonumber(head[2]) / 1000) + boost[t]
        if not best or wait > best.wait then
          best = {wait = wait, tier = t, id = head[1], agent = agent[1]}
        end
      end
    end
  end
  if not best then
    break
  end
  local c = k('conv', best.id)
  local a = k('agent', best.agent)
  redis.call('ZREM', k('q', best.tier), best.id)
  redis.call('HSET', c, 'status', 'active', 'agent', best.agent,
    'agent_name', redis.call('HGET', a, 'name') or best.agent)
  redis.call('SADD', a .. ':convs', best.id)
  redis.call('HSET', a, 'idle_since', now)
  agent_refresh(best.agent)
  local waited = now - tonumber(redis.call('HGET', c, 'queued_at') or now)
  redis.call('LPUSH', k('waits', best.tier), waited)
  redis.call('LTRIM', k('waits', best.tier), 0, keep - 1)
  table.insert(out, {waited, redis.call('HGETALL', c)})
end
return out
