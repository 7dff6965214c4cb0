-- ARGV: prefix
-- Returns {{depth, queued_at of the head or ''}, ...} per tier in TIERS order.
local out = {}
for _, t in ipairs(TIERS) do
  local head = redis.call('ZRANGE', k('q', t), 0, 0)
  local since = ''
  if head[1] then
    since = redis.call('HGET', k('conv', head[1]), 'queued_at') or ''
  end
  table.insert(out, {redis.call('ZCARD', k('q', t)), since})
end
return out
