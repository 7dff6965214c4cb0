-- ARGV: prefix, ref, agent, outcome (reached|no_answer|failed), most attempts
-- no_answer returns the request to its desk's list until the attempts run out.
local h = k('cb', ARGV[2])
local agent, outcome, max = ARGV[3], ARGV[4], tonumber(ARGV[5])
local f = redis.call('HMGET', h, 'status', 'claimed_by', 'attempts', 'history', 'desk', 'sub')
if not f[1] then
  return {-1}
end
if f[1] ~= 'claimed' or f[2] ~= agent then
  return {0}
end
local attempts = tonumber(f[3] or '0') + 1
local status = outcome
if outcome == 'no_answer' and attempts >= max then
  status = 'failed'
end
local history = outcome
if f[4] and f[4] ~= '' then
  history = f[4] .. ',' .. outcome
end
redis.call('HSET', h, 'status', status, 'attempts', attempts, 'history', history)
redis.call('HDEL', h, 'claimed_by')
if status ~= 'no_answer' then
  redis.call('ZREM', k('cbdesk', f[5]), ARGV[2])
  redis.call('SREM', k('cbof', f[6]), ARGV[2])
  if redis.call('GET', k('cbopen', f[6], f[5])) == ARGV[2] then
    redis.call('DEL', k('cbopen', f[6], f[5]))
  end
end
return {1, redis.call('HGETALL', h)}
