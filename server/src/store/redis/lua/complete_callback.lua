-- ARGV: prefix, now, ref, agent, attempts before (as read), new status, new attempts,
--       new history (JSON), still open (1|0), retention of a closed request (ms, or
--       'archive'), how long the agent's closed requests are listed (ms)
-- Writes an outcome Rust computed (`store::after_outcome`) if the request is
-- still claimed by this agent and unchanged since it was read. A closed
-- request joins the agent's `cbdone` index (its "done today" list), which
-- keeps only the window and expires with it.
-- Reply: {outcome = 'done', request} | {outcome = 'not_yours'} | {outcome = 'unknown'}.
local ref, agent, before, status, attempts, history, open, retention, window =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local h = k('cb', ref)
local f = redis.call('HMGET', h, 'claimed_by', 'attempts', 'desk', 'sub')
if not f[3] then
  return cjson.encode({outcome = 'unknown'})
end
if f[1] ~= agent or f[2] ~= before then
  return cjson.encode({outcome = 'not_yours'})
end
redis.call('HSET', h, 'status', status, 'attempts', attempts, 'history', history)
redis.call('HDEL', h, 'claimed_by')
if open ~= '1' then
  redis.call('ZREM', k('cbdesk', f[3]), ref)
  redis.call('SREM', k('cbof', f[4]), ref)
  if redis.call('GET', k('cbopen', f[4], f[3])) == ref then
    redis.call('DEL', k('cbopen', f[4], f[3]))
  end
  -- Closed: out of every index, handed over (archived, or kept for the
  -- retention), then gone.
  hand_over('cb', ref, {h}, retention)
  local done = k('cbdone', agent)
  redis.call('ZADD', done, NOW, ref)
  redis.call('ZREMRANGEBYSCORE', done, '-inf', NOW - window)
  redis.call('PEXPIRE', done, window)
end
return cjson.encode({outcome = 'done', request = redis.call('HGETALL', h)})
