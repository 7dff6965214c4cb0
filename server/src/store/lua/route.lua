-- ARGV: prefix, now, boost ms for standard, premium, business, prepaid, batch size, recent waits
--       kept, most transcript entries in an `assigned` frame
-- Pairs queued conversations with agents in one atomic step: repeatedly the
-- queue head with the greatest effective wait (now - enqueued + boost) that
-- some available agent serves goes to that tier's best agent (fewest active
-- chats, then idle longest). Each pairing's `assigned` frames are published
-- here, in the same atomic step, so that no later event about the
-- conversation (a `msg`, an `ended`) can reach a client before them; their
-- shape is `ServerFrame::Assigned` (see `store::assigned_frames`, which the
-- memory engine uses). Returns {{waited ms, conversation}, ...}.
local now = tonumber(ARGV[2])
local boost = {
  standard = tonumber(ARGV[3]), premium = tonumber(ARGV[4]),
  business = tonumber(ARGV[5]), prepaid = tonumber(ARGV[6]),
}
local batch, keep, page = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
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
  local f = redis.call('HMGET', c, 'cardholder', 'name', 'card_tier', 'topic', 'last_seq', 'agent_name')
  -- The transcript so far: stored entries carry no seq; it is their place.
  local shown = math.min(tonumber(f[5] or '0'), page)
  local entries = {}
  if shown > 0 then
    for i, e in ipairs(redis.call('LRANGE', k('tx', best.id), 0, shown - 1)) do
      entries[i] = '{"seq":' .. i .. ',' .. string.sub(e, 2)
    end
  end
  local name = 'null'
  if f[2] then
    name = cjson.encode(f[2])
  end
  local id = cjson.encode(best.id)
  local to_agent = '{"type":"assigned","conversation":' .. id
    .. ',"cardholder":{"sub":' .. cjson.encode(f[1]) .. ',"name":' .. name
    .. ',"tier":"' .. f[3] .. '"},"topic":"' .. f[4] .. '","waited_s":' .. math.floor(math.max(waited, 0) / 1000)
    .. ',"transcript":[' .. table.concat(entries, ',') .. ']}'
  local to_cardholder = '{"type":"assigned","conversation":' .. id
    .. ',"agent":{"name":' .. cjson.encode(f[6]) .. '}}'
  announce({'a:' .. best.agent}, to_agent)
  announce({'c:' .. f[1]}, to_cardholder)
  table.insert(out, {waited, redis.call('HGETALL', c)})
end
return out
