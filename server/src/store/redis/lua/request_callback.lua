-- ARGV: prefix, now, desk, cardholder, tier, reason, conversation, phone last4 ('' none),
--       new ref, desk rank (Rust's `store::desk_rank`), cardholder name ('' none),
--       cause (JSON, `domain::callback::Cause`)
-- A request is open while it is in its desk's index (`cbdesk`); the
-- cardholder's open one per desk is `cbopen`.
-- Reply: {created, request}, or {taken = true} when the new ref is in use
-- (the caller retries with another).
local desk, sub, tier, reason, conv, phone, ref, rank, name, cause =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local existing = redis.call('GET', k('cbopen', sub, desk))
if existing and redis.call('ZSCORE', k('cbdesk', desk), existing) then
  return cjson.encode({created = false, request = redis.call('HGETALL', k('cb', existing))})
end
local h = k('cb', ref)
if redis.call('EXISTS', h) == 1 then
  return cjson.encode({taken = true})
end
redis.call('HSET', h, 'ref', ref, 'desk', desk, 'sub', sub, 'tier', tier, 'reason', reason,
  'conversation', conv, 'created_at', NOW, 'status', 'requested', 'attempts', 0, 'history', '',
  'cause', cause)
if phone ~= '' then
  redis.call('HSET', h, 'phone_last4', phone)
end
if name ~= '' then
  redis.call('HSET', h, 'name', name)
end
redis.call('ZADD', k('cbdesk', desk), rank, ref)
redis.call('SET', k('cbopen', sub, desk), ref)
redis.call('SADD', k('cbof', sub), ref)
return cjson.encode({created = true, request = redis.call('HGETALL', h)})
