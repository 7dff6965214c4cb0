-- ARGV: prefix, now, cardholder, name ('' none), tier, topic, new id, phone last4
--       ('' none), inbox rank (`store::inbox::inbox_rank`), the cardholder's last
--       conversations (JSON, '' none), most open threads
-- Opens a secure-message thread: it waits in its tier team's inbox, not in a
-- live queue, and has no `open` key (that stays the one live chat). The
-- cardholder's open threads are counted in this same step (threads whose
-- keys expired leave the set here).
-- The id is Rust's: a resent `start` names the same one, and gets that thread
-- back (created false) rather than a second one.
-- Reply: {ok, created, conversation}; ok is false when the cardholder has `max` open
-- threads (or the id is another cardholder's).
local sub, name, tier, topic, id, phone, rank, history, max =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local c = k('conv', id)
local had = redis.call('HMGET', c, 'cardholder', 'kind')
if had[1] then
  if had[1] ~= sub or had[2] ~= 'message' then
    return cjson.encode({ok = false})
  end
  return cjson.encode({ok = true, created = false, conversation = redis.call('HGETALL', c)})
end
local set = k('threads', sub)
local open = 0
for _, t in ipairs(redis.call('SMEMBERS', set)) do
  local st = redis.call('HGET', k('conv', t), 'status')
  if not st then
    redis.call('SREM', set, t)
  elseif st == 'queued' or st == 'active' then
    open = open + 1
  end
end
if open >= max then
  return cjson.encode({ok = false})
end
redis.call('HSET', c, 'id', id, 'kind', 'message', 'cardholder', sub, 'card_tier', tier,
  'tier', tier, 'topic', topic, 'status', 'queued', 'created_at', NOW, 'queued_at', NOW,
  'last_seq', 0, 'score', rank)
hset_given(c, {name = name, phone = phone, history = history})
redis.call('SADD', set, id)
redis.call('ZADD', k('inbox', tier), rank, id)
return cjson.encode({ok = true, created = true, conversation = redis.call('HGETALL', c)})
