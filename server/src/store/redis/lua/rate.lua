-- ARGV: prefix, now, conversation, cardholder, rating (JSON, built by Rust),
--       hand over ('archive' | retention ms)
-- Keeps the cardholder's rating of an ended conversation, once. The one
-- write to an ended record: HSET keeps the key's expiry; with an archive the
-- record is handed over again, so the archive adds the rating to the row it
-- may hold already (`handed_over.lua` then sets the expiry anew).
-- Reply: {outcome = 'none' | 'not_allowed' | 'rated', conversation}.
local id, cardholder, rating, retention = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'cardholder', 'rating')
if not f[1] then
  return cjson.encode({outcome = 'none'})
end
if f[2] ~= cardholder or f[1] ~= 'ended' or f[3] then
  return cjson.encode({outcome = 'not_allowed'})
end
redis.call('HSET', c, 'rating', rating)
if retention == 'archive' then
  hand_over('conv', id, {}, retention)
end
return cjson.encode({outcome = 'rated', conversation = redis.call('HGETALL', c)})
