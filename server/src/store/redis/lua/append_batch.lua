-- ARGV: prefix, now, then for each append: how many arguments it has (n),
--       then its n arguments as `append.lua` takes them from ARGV[2] on
--       (its own time, conversation, author, …)
-- Reply: the appends' replies, in order, each as `append.lua` replies.
-- Several connections' messages stored in one step (`RedisStore`'s append
-- batcher): each append runs exactly as it would alone (`step_append`, the
-- library's function for `append.lua`), and what they announce is published
-- when the batch ends, one message per node, in the order announced.
local replies = {}
local i, last = 3, #ARGV
while i <= last do
  local n = tonumber(ARGV[i])
  local args = {P}
  for j = 1, n do
    args[j + 1] = ARGV[i + j]
  end
  NOW, NOW_S, ARGS = tonumber(args[2]), args[2], args
  table.insert(replies, step_append(args))
  i = i + n + 1
end
return replies
