-- ARGV: prefix, now, ref, agent, status of a claimed request, then the agent's desks
-- Claims an open, unclaimed request of one of the agent's desks.
-- Reply: {outcome = 'won', request} to the one claimer that wins, {outcome = 'taken'}
-- to the others, {outcome = 'unknown'} when no such open request is on those desks.
local ref, agent, claimed = ARGV[3], ARGV[4], ARGV[5]
local h = k('cb', ref)
local f = redis.call('HMGET', h, 'desk', 'claimed_by')
local mine = false
for i = 6, #ARGV do
  if f[1] == ARGV[i] then
    mine = true
  end
end
if not mine or not redis.call('ZSCORE', k('cbdesk', f[1]), ref) then
  return cjson.encode({outcome = 'unknown'})
end
if f[2] then
  return cjson.encode({outcome = 'taken'})
end
redis.call('HSET', h, 'status', claimed, 'claimed_by', agent)
return cjson.encode({outcome = 'won', request = redis.call('HGETALL', h)})
