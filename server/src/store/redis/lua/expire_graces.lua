-- ARGV: prefix, now, batch, end reason for an abandoned queue place, end reason for
--       the agent whose chats go back to the queue, retention of an ended conversation (ms, or 'archive')
-- Applies grace periods that ran out. ZREM makes each expiry happen on
-- exactly one node.
-- Reply: [{abandoned = conversation} | {requeued = conversation, agent}].
local batch, abandoned, transferred, retention = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local out = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', k('grace'), '-inf', NOW, 'LIMIT', 0, batch)) do
  redis.call('ZREM', k('grace'), member)
  if not present(member) then
    local side, user = string.sub(member, 1, 1), string.sub(member, 3)
    if side == 'c' then
      local id, status, agent = open_of(user)
      if status == 'queued' and end_conv(id, abandoned, retention) then
        table.insert(out, {abandoned = redis.call('HGETALL', k('conv', id))})
      elseif status == 'active' and agent then
        tell_presence(agent, id, 'gone')
      end
    else
      local a = k('agent', user)
      for _, id in ipairs(redis.call('SMEMBERS', a .. ':convs')) do
        redis.call('SREM', a .. ':convs', id)
        local f = redis.call('HMGET', k('conv', id), 'status', 'agent', 'tier')
        if f[1] == 'active' and f[2] == user then
          requeue_at_head(id, f[3], '')
          announce_about({'a:' .. user}, id, EVENT.ended[transferred])
          table.insert(out, {requeued = redis.call('HGETALL', k('conv', id)), agent = user})
        end
      end
      agent_refresh(user)
    end
  end
end
return cjson.encode(out)
