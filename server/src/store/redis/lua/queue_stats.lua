-- ARGV: prefix, now, tiers...
-- Reply: [{tier, depth, since}] where since is the head's queued_at ('' when empty).
local out = {}
for i = 3, #ARGV do
  local t = ARGV[i]
  local head = redis.call('ZRANGE', k('q', t), 0, 0)
  local since = ''
  if head[1] then
    since = redis.call('HGET', k('conv', head[1]), 'queued_at') or ''
  end
  table.insert(out, {tier = t, depth = redis.call('ZCARD', k('q', t)), since = since})
end
return cjson.encode(out)
