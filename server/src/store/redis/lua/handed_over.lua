-- ARGV: prefix, now, consumer group, retention (ms), then triples of
--       (stream entry id, kind 'conv' | 'cb' | 'audit', conversation id | callback
--       ref | '')
-- The archive committed these: their keys expire after the retention, and
-- their stream entries are acknowledged and deleted, in one step (so the
-- stream holds only what is not archived yet).
-- Reply: {done}.
local group, retention = ARGV[3], ARGV[4]
local s = k('archive')
local done = 0
for i = 5, #ARGV - 2, 3 do
  local sid, kind, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local keys = {k('cb', id)}
  if kind == 'conv' then
    keys = {k('conv', id), k('tx', id), k('tx', id) .. ':keys'}
  elseif kind == 'audit' then
    keys = {}
  end
  -- A resolved thread reopened since is open again: it does not expire.
  local st = kind == 'conv' and redis.call('HGET', k('conv', id), 'status')
  if st ~= 'queued' and st ~= 'active' then
    for _, key in ipairs(keys) do
      redis.call('PEXPIRE', key, retention)
    end
  end
  redis.call('XACK', s, group, sid)
  redis.call('XDEL', s, sid)
  done = done + 1
end
return cjson.encode({done = done})
