-- ARGV: prefix, now, conversation, how many of its last entries (n)
-- Reply: {first, entries}: the transcript's last n entries (stored JSON), oldest
-- first, and the seq of the first; no `entries` when there are none. Only the
-- tail is read, whatever the transcript's size; Rust picks the author's
-- entries (`store::recent_of`).
local tx = k('tx', ARGV[3])
local entries = redis.call('LRANGE', tx, -tonumber(ARGV[4]), -1)
local first = redis.call('LLEN', tx) - #entries + 1
if #entries == 0 then
  return cjson.encode({first = first})
end
return cjson.encode({first = first, entries = entries})
