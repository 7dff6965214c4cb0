-- ARGV: prefix, now, conversation, author, field of the conversation the sender must
--       match ('cardholder' | 'agent' | '' for the hub), sender, idempotency key ('' none),
--       entry JSON, then the author's earlier entries to redact ('' none), as four
--       JSON arrays in seq order: their seqs, the texts they must still hold, their
--       new stored JSON, their `redact` events (built by Rust); then '1' to hold the
--       entry back until
--       `release.lua` (acknowledged once replicas hold it), '' to announce it now;
--       then the notification to queue when the cardholder is connected nowhere
--       ('' none: not configured, or not an agent's entry): its event, its id, how
--       long the conversation stays marked notified (ms); then the entry's charge
--       against the transcript's bounds ('' for the hub's own entries: not bounded),
--       the most entries and the most bytes (`store::TranscriptBounds`); then pairs
--       of (card tier, inbox rank now) for a cardholder's message that reopens a
--       resolved thread (given only when a first call without them replied `wants_ranks`)
-- Reply: {ok, duplicate, seq, entry, cardholder, agent, status, first, notified, reopened,
-- wants_ranks, full, conflict}; ok is false when the conversation is over or the sender
-- is not its cardholder/agent, (with wants_ranks) when the ranks are needed, (with full)
-- when the entry would take the transcript past its bounds, or (with conflict) when an
-- entry to redact no longer holds the text given: nothing is written then.
-- The new entry's `msg` event is published here, inside the same atomic
-- step, so every node receives a conversation's entries in seq order
-- (held: by `release.lua` or the conversation's next announcing step).
local id, author, field, sender, key, entry = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local redact_seqs, redact_was, redact_entries, redact_events = ARGV[9], ARGV[10], ARGV[11],
  ARGV[12]
local hold = ARGV[13] == '1'
local notify_event, notify_id, notify_pending = ARGV[14], ARGV[15], ARGV[16]
local c = k('conv', id)
local f = redis.call('HMGET', c, entry_fields(author))
if not f[1] or f[1] == 'ended' then
  return cjson.encode({ok = false})
end
local owner = field == 'cardholder' and f[2] or field == 'agent' and f[3] or nil
if field ~= '' and owner ~= sender then
  return cjson.encode({ok = false})
end
-- Whether the entry is a resend of a stored one (answered as the duplicate
-- below): asked only by the checks that need it, and at most once.
local resend = nil
local function is_resend()
  if resend == nil then
    resend = key ~= '' and redis.call('HEXISTS', k('tx', id) .. ':keys', key) == 1
  end
  return resend
end
-- Past the bounds, a typed entry is refused, unless it is a resend.
local charge = tonumber(ARGV[17])
if charge and (tonumber(f[5] or '0') >= tonumber(ARGV[18])
    or tonumber(f[9] or '0') + charge > tonumber(ARGV[19]))
    and not is_resend() then
  return cjson.encode({ok = false, full = true})
end
-- A number typed over several messages (not a resend): each entry to redact
-- must still hold the text the hub read, checked before the first write.
local redactions = {}
if redact_seqs ~= '' and not is_resend() then
  local seqs, was, entries = cjson.decode(redact_seqs), cjson.decode(redact_was), cjson.decode(redact_entries)
  local events = cjson.decode(redact_events)
  for i, seq in ipairs(seqs) do
    local index = string.format('%d', seq - 1)
    local stored = redis.call('LINDEX', k('tx', id), index)
    if not stored or cjson.decode(stored).text ~= was[i] then
      return cjson.encode({ok = false, conflict = true})
    end
    redactions[i] = {index = index, entry = entries[i], event = events[i]}
  end
end
-- The cardholder writes to a resolved thread (not a resend): it goes back to
-- its team's inbox and no longer expires.
local reopened = false
if f[1] == 'resolved' and not is_resend() then
  if #ARGV < 20 then
    return cjson.encode({ok = false, wants_ranks = true})
  end
  if not to_inbox(id, f[4], 20) then
    return cjson.encode({ok = false})
  end
  for _, key in ipairs({c, k('tx', id), k('tx', id) .. ':keys'}) do
    redis.call('PERSIST', key)
  end
  reopened = true
  f[1] = 'queued'
end
-- ... and is masked anew, announced in seq order before the new entry goes out.
for _, r in ipairs(redactions) do
  redis.call('LSET', k('tx', id), r.index, r.entry)
  announce(with_monitors(id, both_sides(f[1], f[2], f[3]), f[8]), r.event)
end
-- What append_entry reads, read above already (unless the reopening
-- released held entries meanwhile).
local seen = nil
if not reopened then
  seen = f
end
local r = append_entry(id, author, key, entry, hold, seen, charge)
r.ok = true
if notify_event ~= '' and not r.duplicate then
  r.notified = queue_notification(f[2], id, notify_event, notify_id, notify_pending)
end
r.cardholder = f[2]
if f[3] then
  r.agent = f[3]
end
r.status = f[1]
r.reopened = reopened
return cjson.encode(r)
