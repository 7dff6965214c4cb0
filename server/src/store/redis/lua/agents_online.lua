-- ARGV: prefix, now, team
-- Reply: how many agents of the team (`team:<team>`, kept by
-- register_agent) have a connection open on a live node.
local n = 0
for _, agent in ipairs(redis.call('SMEMBERS', k('team', ARGV[3]))) do
  if present('a:' .. agent) then
    n = n + 1
  end
end
return cjson.encode(n)
