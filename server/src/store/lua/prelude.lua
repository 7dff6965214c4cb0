-- Shared helpers for every Switchboard script. ARGV[1] is always the key
-- prefix; scripts read their own arguments from ARGV[2] on. Keys are built
-- here rather than passed as KEYS because routing touches keys it only
-- discovers while it runs (single Redis or a primary with replicas; not
-- Redis Cluster).
local P = ARGV[1]
local function k(...)
  return P .. ':' .. table.concat({...}, ':')
end
local TIERS = {'standard', 'premium', 'business', 'prepaid'}

-- Recomputes an agent's place in the availability sets of its tier teams:
-- present only while available with a free slot, scored so that the lowest
-- score is the fewest active chats, then the longest idle.
local function agent_refresh(agent)
  local a = k('agent', agent)
  local f = redis.call('HMGET', a, 'state', 'max_chats', 'teams', 'idle_since')
  local active = redis.call('SCARD', a .. ':convs')
  local free = f[1] == 'available' and active < tonumber(f[2] or '0')
  for team in string.gmatch(f[3] or '', '[^,]+') do
    if free then
      redis.call('ZADD', k('avail', team), active * 1e13 + tonumber(f[4] or '0'), agent)
    else
      redis.call('ZREM', k('avail', team), agent)
    end
  end
end

-- Whether any live node holds a connection of this presence member
-- ('c:<sub>' for cardholders, 'a:<sub>' for agents).
local function present(member)
  for _, n in ipairs(redis.call('ZRANGE', k('nodes'), 0, -1)) do
    local c = tonumber(redis.call('HGET', k('presence', n), member) or '0')
    if c > 0 then
      return true
    end
  end
  return false
end

-- The last connection of a user is gone: an agent goes away (and its chats
-- get a grace period), a queued cardholder keeps the place for a while.
local function went_offline(member, deadline)
  local side, user = string.sub(member, 1, 1), string.sub(member, 3)
  if side == 'a' then
    local a = k('agent', user)
    if redis.call('EXISTS', a) == 0 then
      return
    end
    redis.call('HSET', a, 'state', 'away')
    agent_refresh(user)
    if redis.call('SCARD', a .. ':convs') > 0 then
      redis.call('ZADD', k('grace'), deadline, member)
    end
  else
    local id = redis.call('GET', k('open', user))
    if id and redis.call('HGET', k('conv', id), 'status') == 'queued' then
      redis.call('ZADD', k('grace'), deadline, member)
    end
  end
end

-- Publishes an event (a frame's JSON text) to users: on the event channel
-- of each node where one of them is connected. Members are 'c:<sub>' or
-- 'a:<sub>', as in the presence hashes, so a node only receives the events
-- of its own connections.
local function announce(members, frame)
  local to = {}
  for i, m in ipairs(members) do
    to[i] = string.sub(m, 3)
  end
  local payload = cjson.encode({to = to, f = frame})
  for _, n in ipairs(redis.call('ZRANGE', k('nodes'), 0, -1)) do
    local h = k('presence', n)
    for _, m in ipairs(members) do
      if redis.call('HEXISTS', h, m) == 1 then
        redis.call('PUBLISH', k('events', n), payload)
        break
      end
    end
  end
end

-- The `ended` frame (ServerFrame::Ended).
local function ended_frame(id, reason)
  return '{"type":"ended","conversation":' .. cjson.encode(id) .. ',"reason":"' .. reason .. '"}'
end

-- Ends a conversation wherever it stands and announces `ended` to both
-- sides, in the same step (so a new `assigned` for the freed slot can never
-- reach the agent first); false when it was already over.
local function end_conv(id, reason)
  local c = k('conv', id)
  local f = redis.call('HMGET', c, 'status', 'agent', 'cardholder', 'tier')
  if not f[1] or f[1] == 'ended' then
    return false
  end
  redis.call('HSET', c, 'status', 'ended')
  local to = {'c:' .. f[3]}
  if f[1] == 'active' and f[2] then
    table.insert(to, 'a:' .. f[2])
  end
  announce(to, ended_frame(id, reason))
  if f[1] == 'queued' then
    redis.call('ZREM', k('q', f[4]), id)
  elseif f[2] then
    redis.call('SREM', k('agent', f[2]) .. ':convs', id)
    agent_refresh(f[2])
  end
  if redis.call('GET', k('open', f[3])) == id then
    redis.call('DEL', k('open', f[3]))
  end
  redis.call('ZREM', k('grace'), 'c:' .. f[3])
  return true
end

-- Puts a conversation at the head of a tier queue, keeping its original
-- place when that is earlier still.
local function requeue_at_head(id, tier, now)
  local c = k('conv', id)
  local score = tonumber(redis.call('HGET', c, 'score'))
  local head = redis.call('ZRANGE', k('q', tier), 0, 0, 'WITHSCORES')
  if head[2] then
    score = math.min(score, tonumber(head[2]) - 1)
  end
  redis.call('HSET', c, 'status', 'queued', 'tier', tier, 'queued_at', now)
  redis.call('HDEL', c, 'agent', 'agent_name')
  redis.call('ZADD', k('q', tier), score, id)
end
