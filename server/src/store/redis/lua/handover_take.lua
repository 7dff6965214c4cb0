-- ARGV: prefix, now, consumer group, consumer (this node), batch, idle time after
--       which another consumer's pending entry is taken over (ms)
-- Takes up to `batch` entries of the archive stream for this consumer: its
-- own pending ones first (delivered earlier, not archived yet: retried),
-- then entries idle that long in another consumer's pending list (a dead
-- node's, XAUTOCLAIM), then new ones; each with the record it names. The
-- group is created on first use, from the stream's start.
-- Reply: {items = [{sid, kind, id, record, count, audit}], backlog, oldest}
-- (count: how many transcript entries a conversation holds now; Rust reads
-- them in pages after this step, so no step copies a whole transcript)
-- (a supervisor action, kind 'audit', carries its entry in the stream itself):
-- backlog counts the entries not archived yet (archived ones are deleted),
-- oldest is the id of the oldest ('' none).
local group, consumer, batch, idle = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local s = k('archive')
local items = {}
if redis.call('EXISTS', s) == 0 then
  return cjson.encode({items = items, backlog = 0, oldest = ''})
end
redis.pcall('XGROUP', 'CREATE', s, group, '0')
local seen = {}
local function take(entries)
  for _, e in ipairs(entries or {}) do
    if #items < batch and not seen[e[1]] and e[2] then
      seen[e[1]] = true
      local f = {}
      for i = 1, #e[2], 2 do
        f[e[2][i]] = e[2][i + 1]
      end
      local item = {sid = e[1], kind = f.kind, id = f.id}
      if f.kind == 'conv' then
        item.record = redis.call('HGETALL', k('conv', f.id))
        item.count = redis.call('LLEN', k('tx', f.id))
      elseif f.kind == 'audit' then
        item.audit = f.entry
      else
        item.record = redis.call('HGETALL', k('cb', f.id))
      end
      table.insert(items, item)
    end
  end
end
local mine = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', batch, 'STREAMS', s, '0')
if mine and mine[1] then
  take(mine[1][2])
end
if #items < batch then
  take(redis.call('XAUTOCLAIM', s, group, consumer, idle, '0-0', 'COUNT', batch - #items)[2])
end
if #items < batch then
  local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', batch - #items, 'STREAMS', s, '>')
  if new and new[1] then
    take(new[1][2])
  end
end
local first = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
local oldest = ''
if first[1] then
  oldest = first[1][1]
end
return cjson.encode({items = items, backlog = redis.call('XLEN', s), oldest = oldest})
