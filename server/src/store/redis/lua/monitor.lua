-- ARGV: prefix, now, conversation, supervisor (presence member 's:<id>'), on ('1'|'0'),
--       the supervisor's teams (',standard,identity,': Rust writes the list with a ','
--       on each side of every name; only read when on)
-- Reply: {ok, outside, conversation}: ok is false for an unknown or ended conversation,
-- or (outside) when its team is not one of the supervisor's.
local id, member, on, teams = ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local c = k('conv', id)
local f = redis.call('HMGET', c, 'status', 'tier')
local status = f[1]
if on and (not status or status == 'ended') then
  return cjson.encode({ok = false})
end
if on and not in_teams(teams, f[2]) then
  return cjson.encode({ok = false, outside = true})
end
-- Counted per supervisor: each monitoring connection adds one, each that
-- stops takes one; the supervisor hears the chat while any is left. Its
-- teams (`:scopes`) are those every monitoring connection named, so that
-- a step that moves the chat elsewhere knows whom to drop (`monitors_follow`).
if on then
  local scopes = c .. ':scopes'
  if redis.call('HINCRBY', c .. ':monitors', member, 1) == 1 then
    redis.call('HSET', scopes, member, teams)
  else
    redis.call('HSET', scopes, member, common_teams(redis.call('HGET', scopes, member) or '', teams))
  end
elseif tonumber(redis.call('HINCRBY', c .. ':monitors', member, -1)) <= 0 then
  redis.call('HDEL', c .. ':monitors', member)
  redis.call('HDEL', c .. ':scopes', member)
end
if not status then
  return cjson.encode({ok = false})
end
monitors_changed(c)
return cjson.encode({ok = true, conversation = redis.call('HGETALL', c)})
