-- ARGV: prefix, cardholder, name, tier, topic, enqueue (1|0), now, new id, phone last4 ('' none)
local sub, name, tier, topic, enqueue, now, id, phone =
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local open = redis.call('GET', k('open', sub))
if open then
  local st = redis.call('HGET', k('conv', open), 'status')
  if st and st ~= 'ended' then
    return {0, redis.call('HGETALL', k('conv', open))}
  end
end
local score = now * 1000 + (redis.call('INCR', k('counter')) % 1000)
local status = 'active'
if enqueue == '1' then
  status = 'queued'
end
local c = k('conv', id)
redis.call('HSET', c, 'id', id, 'cardholder', sub, 'card_tier', tier, 'tier', tier,
  'topic', topic, 'status', status, 'created_at', now, 'queued_at', now,
  'last_seq', 0, 'score', score)
if name ~= '' then
  redis.call('HSET', c, 'name', name)
end
if phone ~= '' then
  redis.call('HSET', c, 'phone', phone)
end
redis.call('SET', k('open', sub), id)
if enqueue == '1' then
  redis.call('ZADD', k('q', tier), score, id)
end
return {1, redis.call('HGETALL', c)}
