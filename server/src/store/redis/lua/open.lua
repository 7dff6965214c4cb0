-- ARGV: prefix, now, cardholder, name ('' none), tier, topic, enqueue (1|0), new id,
--       phone last4 ('' none), its rank in its tier's queue, its ranks in every
--       tier's queue (JSON: Rust's `store::order::QueueRanks`, for a later
--       requeue), the cardholder's last conversations (JSON list of summaries,
--       '' none; kept for the agent's `assigned`)
-- Reply: {created, conversation} (the cardholder's open one when there is one).
local sub, name, tier, topic, enqueue, id, phone, rank, ranks, history =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local open = redis.call('GET', k('open', sub))
if open then
  local st = redis.call('HGET', k('conv', open), 'status')
  if st and st ~= 'ended' then
    return cjson.encode({created = false, conversation = redis.call('HGETALL', k('conv', open))})
  end
end
local status = 'active'
if enqueue == '1' then
  status = 'queued'
end
local c = k('conv', id)
redis.call('HSET', c, 'id', id, 'cardholder', sub, 'card_tier', tier, 'tier', tier,
  'topic', topic, 'status', status, 'created_at', NOW, 'queued_at', NOW,
  'last_seq', 0, 'ranks', ranks)
hset_given(c, {name = name, phone = phone, history = history})
redis.call('SET', k('open', sub), id)
if enqueue == '1' then
  redis.call('ZADD', k('q', tier), rank, id)
end
return cjson.encode({created = true, conversation = redis.call('HGETALL', c)})
