-- ARGV: prefix, now, batch, lease (ms)
-- Takes up to `batch` notifications due by now: each counts an attempt and
-- is leased (its due time moves `lease` ms on), so no other node takes it
-- unless this one fails to settle it in time. A notice whose hash is gone
-- (the store lost it) leaves the queue.
-- Reply: [{id, event, sub, conversation, at, attempts}] in due order.
local batch, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
local items = {}
for _, nid in ipairs(redis.call('ZRANGEBYSCORE', k('notify'), '-inf', NOW, 'LIMIT', 0, batch)) do
  local h = k('notice', nid)
  local f = redis.call('HMGET', h, 'event', 'sub', 'conversation', 'at')
  if f[1] then
    local attempts = redis.call('HINCRBY', h, 'attempts', 1)
    redis.call('ZADD', k('notify'), NOW + lease, nid)
    table.insert(items, {id = nid, event = f[1], sub = f[2], conversation = f[3],
      at = tonumber(f[4]), attempts = attempts})
  else
    redis.call('ZREM', k('notify'), nid)
    redis.call('ZREM', k('notify', 'age'), nid)
  end
end
return cjson.encode(items)
