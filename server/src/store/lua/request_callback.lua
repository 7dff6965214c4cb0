-- ARGV: prefix, desk, cardholder, tier, reason, conversation, phone last4 ('' none), now, new ref
-- Returns {1, request} when raised, {0, request} for the cardholder's open
-- request at that desk, {-1} when the new ref is taken (the caller retries).
local desk, sub, tier, reason, conv, phone, now, ref =
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local existing = redis.call('GET', k('cbopen', sub, desk))
if existing then
  local st = redis.call('HGET', k('cb', existing), 'status')
  if st == 'requested' or st == 'claimed' or st == 'no_answer' then
    return {0, redis.call('HGETALL', k('cb', existing))}
  end
end
local h = k('cb', ref)
if redis.call('EXISTS', h) == 1 then
  return {-1}
end
redis.call('HSET', h, 'ref', ref, 'desk', desk, 'sub', sub, 'tier', tier, 'reason', reason,
  'conversation', conv, 'created_at', now, 'status', 'requested', 'attempts', 0, 'history', '')
if phone ~= '' then
  redis.call('HSET', h, 'phone_last4', phone)
end
local rank = 1
if tier == 'premium' then
  rank = 0
end
redis.call('ZADD', k('cbdesk', desk), rank * 1e13 + now, ref)
redis.call('SET', k('cbopen', sub, desk), ref)
redis.call('SADD', k('cbof', sub), ref)
return {1, redis.call('HGETALL', h)}
