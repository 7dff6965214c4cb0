-- ARGV: prefix, conversation, author, sender ('' = system), client key ('' = none), entry JSON,
--       msg frame before and after its seq ('' = do not announce)
-- Returns {duplicate (0|1), seq, entry JSON, cardholder, agent or '', status,
-- first entry of this author (0|1)} or {-1}.
-- A new entry's `msg` frame is published here, inside the same atomic step,
-- so every node receives a conversation's entries in seq order.
local id, author, sender, key, entry = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local before, after = ARGV[7], ARGV[8]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'cardholder', 'agent')
if not f[1] or f[1] == 'ended' then
  return {-1}
end
if sender ~= '' and sender ~= f[2] and sender ~= f[3] then
  return {-1}
end
local agent = f[3] or ''
local keys = k('tx', id) .. ':keys'
if key ~= '' then
  local seq = redis.call('HGET', keys, author .. ':' .. key)
  if seq then
    return {1, tonumber(seq), redis.call('LINDEX', k('tx', id), tonumber(seq) - 1), f[2], agent, f[1], 0}
  end
end
local seq = redis.call('RPUSH', k('tx', id), entry)
local first = redis.call('HSETNX', c, 'spoke:' .. author, 1)
redis.call('HSET', c, 'last_seq', seq)
if key ~= '' then
  redis.call('HSET', keys, author .. ':' .. key, seq)
end
if before ~= '' then
  local to = {'c:' .. f[2]}
  if agent ~= '' then
    table.insert(to, 'a:' .. agent)
  end
  announce(to, before .. seq .. after)
end
return {0, seq, entry, f[2], agent, f[1], first}
