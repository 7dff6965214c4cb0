-- ARGV: prefix, now, tiers...
-- Reply: [{tier, depth, since}] where since is the head's queued_at ('' when empty).
local out = {}
for i = 3, #ARGV do
  local t = ARGV[i]
  table.insert(out, {tier = t, depth = queue_depth(t), since = head_since(t)})
end
return cjson.encode(out)
