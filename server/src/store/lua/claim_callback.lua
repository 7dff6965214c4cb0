-- ARGV: prefix, ref, agent
-- Returns {1, request} to the one claimer that wins, {0} to the others, {-1} when unknown.
local h = k('cb', ARGV[2])
local st = redis.call('HGET', h, 'status')
if not st then
  return {-1}
end
if st ~= 'requested' and st ~= 'no_answer' then
  return {0}
end
redis.call('HSET', h, 'status', 'claimed', 'claimed_by', ARGV[3])
return {1, redis.call('HGETALL', h)}
