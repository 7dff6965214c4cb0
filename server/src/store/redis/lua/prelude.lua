-- Shared helpers for every Switchboard step. The steps are functions of
-- one library (`store::redis::library`): this prelude runs once, when Redis
-- loads the library, and each step's body runs when called. ARGV[1] is the
-- key prefix, ARGV[2] the time of the call (Unix ms, given by Rust: a step
-- never reads Redis's clock; '' for a step that only reads); each function sets
-- P, NOW, NOW_S and ARGS from them before its body runs, and bodies read their
-- own arguments from ARGV[3] on. Keys are built here rather than passed as KEYS because
-- routing touches keys it only discovers while it runs (single Redis or a
-- primary with replicas; not Redis Cluster).
--
-- User ids reach the scripts already encoded by Rust (`store::redis::keys`):
-- an encoded id holds no ':', '*', '{' or space, so no id can name another
-- key. Every rule (queue ranks and boosts, agents' availability scores,
-- desk ranks, idempotency keys, callback outcomes, end reasons) is computed
-- in Rust and passed in or kept where Rust wrote it (a conversation's
-- `ranks`, an agent's `scores`); the scripts sort by them, check, write and
-- announce. Each script checks everything it
-- needs before its first write, so a refused call leaves nothing behind.
-- Replies are JSON documents decoded by named structs
-- (`store::redis::replies`). Events are `events::Event` payloads built by
-- Rust, never client frames and never JSON a script assembles: the
-- library's constants (`EVENT`, defined before this prelude by
-- `store::redis::wire::script_payloads`) or a call's arguments. A step
-- frames each as `store::redis::wire` reads it: a header of what only the
-- step knows (the recipients it read, the publish time, and facts: the
-- conversation it names, the seq it gave an entry, the records it read),
-- separated by US (\31), then the payload untouched; one message per node
-- channel holds the step's envelopes in order, separated by RS (\30).
-- The key prefix, the time of the call (a number), the same time as given
-- (a string, for writing: see `append_entry`), and the call's arguments.
local P, NOW, NOW_S, ARGS
-- A key: the prefix and up to three parts, joined by ':'. Written out
-- rather than with table.concat: every string a step makes costs Redis a
-- hash of all its bytes, and a key is made in one concatenation.
local function k(a, b, c)
  if c then
    return P .. ':' .. a .. ':' .. b .. ':' .. c
  elseif b then
    return P .. ':' .. a .. ':' .. b
  end
  return P .. ':' .. a
end

-- Sets the fields of a hash that are given ('' means not given).
local function hset_given(key, fields)
  for field, value in pairs(fields) do
    if value ~= '' then
      redis.call('HSET', key, field, value)
    end
  end
end

-- An agent's score with `active` chats: the (active + 1)-th of its
-- `scores` field, Rust's `store::order::AvailabilityScores`, written with
-- its `idle_since` (nil when not written).
local function load_score(scores, active)
  local i = 0
  for score in string.gmatch(scores or '', '%S+') do
    if i == active then
      return score
    end
    i = i + 1
  end
  return nil
end

-- Puts an agent in the availability sets of its tier teams, or takes it
-- out: present only while available with a free slot, with the score Rust
-- gave for its number of active chats (`load_score`).
local function agent_refresh(agent)
  local a = k('agent', agent)
  local f = redis.call('HMGET', a, 'state', 'max_chats', 'teams', 'scores')
  local active = redis.call('SCARD', a .. ':convs')
  local score = load_score(f[4], active)
  local free = f[1] == 'available' and active < tonumber(f[2] or '0') and score
  for team in string.gmatch(f[3] or '', '[^,]+') do
    if free then
      redis.call('ZADD', k('avail', team), score, agent)
    else
      redis.call('ZREM', k('avail', team), agent)
    end
  end
end

-- The live nodes, read once per step (a batch of appends publishes to
-- them once per message); a step that adds or removes a node calls
-- `nodes_changed` after it, and `flush` forgets them when the step ends.
local nodes_cache
local function live_nodes()
  if not nodes_cache then
    nodes_cache = redis.call('ZRANGE', k('nodes'), 0, -1)
  end
  return nodes_cache
end
local function nodes_changed()
  nodes_cache = nil
end

-- Whether any live node holds a connection of this presence member
-- ('c:<id>' for cardholders, 'a:<id>' for agents).
local function present(member)
  for _, n in ipairs(live_nodes()) do
    local c = tonumber(redis.call('HGET', k('presence', n), member) or '0')
    if c > 0 then
      return true
    end
  end
  return false
end

-- The separators of the framing (`store::redis::wire`): US between the
-- parts of an envelope, RS between the envelopes of one message.
local US, RS = '\31', '\30'

-- The envelopes a step has announced, per event channel, published when it
-- ends (`flush`, called by every function of the library): each channel's
-- list holds the pieces of its envelopes, RS pieces between them. An
-- envelope is joined only once, with the rest of its channel's message,
-- when the step ends: each string a step makes costs Redis a hash of all
-- its bytes.
local pending, pending_channels = {}, {}

-- Announces an event to its recipients (presence members), on the event
-- channel of each node where one of them is connected, so a node only
-- receives the events of its own connections: `payload` is Rust's (an
-- `EVENT` constant or an argument), passed on untouched; `facts` (nil:
-- none) the pieces of what only the step knows, each fact led by a US
-- piece (`'conversation='` and an id, `'entry#'`, a seq, `':'` and a
-- stored entry, ...). The envelope is `to US at {US fact} US payload`;
-- envelopes are held until the step ends (see `flush`).
local function announce(members, payload, facts)
  local to
  for _, n in ipairs(live_nodes()) do
    local h = k('presence', n)
    for _, m in ipairs(members) do
      if redis.call('HEXISTS', h, m) == 1 then
        local channel = k('events', n)
        local list = pending[channel]
        if not list then
          list = {}
          pending[channel] = list
          table.insert(pending_channels, channel)
        else
          list[#list + 1] = RS
        end
        to = to or table.concat(members, ',')
        local i = #list
        list[i + 1], list[i + 2], list[i + 3] = to, US, NOW_S
        i = i + 3
        if facts then
          for _, piece in ipairs(facts) do
            i = i + 1
            list[i] = piece
          end
        end
        list[i + 1], list[i + 2] = US, payload
        break
      end
    end
  end
end

-- Forgets what a step kept: its envelopes not yet published and the live
-- nodes it read. Run before each step (one that failed midway left them)
-- and after `flush`.
local function new_step()
  pending, pending_channels = {}, {}
  nodes_cache = nil
end

-- Publishes what the step announced: one message per channel, its
-- envelopes in the order announced. Atomic like the step, and one PUBLISH
-- per node for a whole batch of appends.
local function flush()
  for _, channel in ipairs(pending_channels) do
    redis.call('PUBLISH', channel, table.concat(pending[channel]))
  end
  new_step()
end

-- Announces an event about conversation `id` (a string the step read or
-- was given), Rust's `payload` with the conversation as its one fact.
local function announce_about(members, id, payload)
  announce(members, payload, {US, 'conversation=', id})
end

-- Announces a transcript entry (`msg`): seq a string, the entry's JSON as
-- Rust stored it. It is most of what Redis does per message: a handful
-- of pieces, no cjson.
local function announce_entry(members, id, seq, entry)
  announce(members, EVENT.msg, {US, 'conversation=', id, US, 'entry#', seq, ':', entry})
end

-- The last connection of a user is gone: an agent goes away (and its chats
-- get a grace period), a queued cardholder keeps the place for a while.
-- A cardholder's open conversation: its id, status and agent (all nil when none).
local function open_of(user)
  local id = redis.call('GET', k('open', user))
  if not id then
    return nil
  end
  local f = redis.call('HMGET', k('conv', id), 'status', 'agent')
  return id, f[1], f[2]
end

-- Tells a chat's agent whether its cardholder is there: 'online' | 'away' | 'gone'.
local function tell_presence(agent, id, presence)
  announce_about({'a:' .. agent}, id, EVENT.presence[presence])
end

-- A tier's queue is two sorted sets with the same ranks (Rust's
-- `store::order`): `q:<tier>` for connected cardholders and
-- `q:<tier>:away` for those in their grace period; routing serves the
-- first, positions count both. `line` names one: 'q' or 'away'.
local function line_key(tier, line)
  if line == 'away' then
    return k('q', tier, 'away')
  end
  return k('q', tier)
end

-- Moves a queued conversation from one line of its tier's queue to the
-- other, keeping its rank (nothing when it is not in `from`).
local function change_line(id, from, to)
  local tier = redis.call('HGET', k('conv', id), 'tier')
  local rank = tier and redis.call('ZSCORE', line_key(tier, from), id)
  if rank then
    redis.call('ZREM', line_key(tier, from), id)
    redis.call('ZADD', line_key(tier, to), rank, id)
  end
end

-- Takes a conversation out of a tier's queue, whichever line holds it.
local function leave_queue(tier, id)
  redis.call('ZREM', k('q', tier), id)
  redis.call('ZREM', k('q', tier, 'away'), id)
end

-- How many conversations wait in a tier's queue (both lines).
local function queue_depth(tier)
  return redis.call('ZCARD', k('q', tier)) + redis.call('ZCARD', k('q', tier, 'away'))
end

-- The first conversation of one line of a tier's queue: id, rank (nil
-- when the line is empty).
local function line_first(tier, line)
  local head = redis.call('ZRANGE', line_key(tier, line), 0, 0, 'WITHSCORES')
  return head[1], head[2]
end

-- When the conversation at the head of a tier's queue by rank (either
-- line) was queued: its `queued_at` as stored, '' when the queue is empty.
local function head_since(tier)
  local first, rank = line_first(tier, 'q')
  local away, away_rank = line_first(tier, 'away')
  if away and (not first or tonumber(away_rank) < tonumber(rank)) then
    first = away
  end
  if not first then
    return ''
  end
  return redis.call('HGET', k('conv', first), 'queued_at') or ''
end

-- The head of a tier's queue: the connected line's first, else the away
-- line's: id, rank (nil when both are empty).
local function queue_head(tier)
  local id, rank = line_first(tier, 'q')
  if id then
    return id, rank
  end
  return line_first(tier, 'away')
end

-- Keeps `online:<team>` (the team's agents connected on a live node, so
-- that counting them costs one SCARD, not a presence check per member) for
-- an agent's teams: `on` adds, otherwise removes.
local function agent_online(agent, teams, on)
  for team in string.gmatch(teams or '', '[^,]+') do
    redis.call(on and 'SADD' or 'SREM', k('online', team), agent)
  end
end

local function went_offline(member, deadline)
  local side, user = string.sub(member, 1, 1), string.sub(member, 3)
  if side == 'a' then
    local a = k('agent', user)
    if redis.call('EXISTS', a) == 0 then
      return
    end
    agent_online(user, redis.call('HGET', a, 'teams'), false)
    if redis.call('HGET', a, 'state') ~= 'away' then
      redis.call('HSET', a, 'state', 'away', 'state_since', NOW)
    end
    agent_refresh(user)
    if redis.call('SCARD', a .. ':convs') > 0 then
      redis.call('ZADD', k('grace'), deadline, member)
    end
  elseif side == 'c' then
    -- A queued cardholder keeps the place for the grace period; an active
    -- chat's agent hears `away` now (and `gone` when the grace runs out).
    local id, status, agent = open_of(user)
    if status == 'queued' then
      redis.call('ZADD', k('grace'), deadline, member)
      change_line(id, 'q', 'away')
    elseif status == 'active' and agent then
      redis.call('ZADD', k('grace'), deadline, member)
      tell_presence(agent, id, 'away')
    end
  end
end

-- A user's first connection anywhere opened: an agent counts as online for
-- its teams; a cardholder's active chat's agent hears `online`, and their
-- conversations may be notified about again.
local function came_online(member)
  local side, user = string.sub(member, 1, 1), string.sub(member, 3)
  if side == 'a' then
    agent_online(user, redis.call('HGET', k('agent', user), 'teams'), true)
  elseif side == 'c' then
    redis.call('DEL', k('notified', user))
    local id, status, agent = open_of(user)
    if status == 'active' and agent then
      tell_presence(agent, id, 'online')
    elseif status == 'queued' then
      change_line(id, 'away', 'q')
    end
  end
end

-- The members to announce a conversation's entries and end to: `to`, plus the
-- supervisors monitoring it.
-- `monitored`: the conversation's `monitored` field when the caller has
-- read it (false: nobody monitors it, so there is nothing to look up).
local function with_monitors(id, to, monitored)
  if monitored == false then
    return to
  end
  for _, m in ipairs(redis.call('HKEYS', k('conv', id) .. ':monitors')) do
    table.insert(to, m)
  end
  return to
end

-- Keeps the conversation's `monitored` field (present while any supervisor
-- monitors it, so that a message's step need not look the monitors up)
-- in step with its `:monitors` hash.
local function monitors_changed(c)
  if redis.call('EXISTS', c .. ':monitors') == 1 then
    redis.call('HSET', c, 'monitored', '1')
  else
    redis.call('HDEL', c, 'monitored')
  end
end

-- A conversation that is over has no monitors left.
local function drop_monitors(c)
  redis.call('DEL', c .. ':monitors', c .. ':scopes')
  redis.call('HDEL', c, 'monitored')
end

-- Whether `team` is in `teams`, a list Rust writes with a ',' on each side
-- of every name (',standard,identity,'), so that a name is found whole.
-- Set membership only: which teams a supervisor has, and which team a
-- step moves a chat to, are Rust's.
local function in_teams(teams, team)
  return team ~= nil and string.find(teams, ',' .. team .. ',', 1, true) ~= nil
end

-- The names of `a` that are also in `b` (both written as `in_teams` reads
-- them), in the same form.
local function common_teams(a, b)
  local kept = {}
  for team in string.gmatch(a, '[^,]+') do
    if in_teams(b, team) then
      table.insert(kept, team)
    end
  end
  if #kept == 0 then
    return ','
  end
  return ',' .. table.concat(kept, ',') .. ','
end

-- The chat `id` now belongs to `team` (a transfer's tier, an escalation's
-- desk, as Rust passed it): every monitor whose teams (`:scopes`, written
-- by `monitor.lua`) do not include it stops monitoring now, and is told
-- `monitor_ended` (`out_of_scope`) before anything the step announces next,
-- so no later entry or note reaches it. A monitor with no teams kept is
-- dropped too. The reason is the name of what happened, like an event's
-- kind; no rule is decided here beyond set membership.
local function monitors_follow(id, team)
  local c = k('conv', id)
  local members = redis.call('HKEYS', c .. ':monitors')
  if #members == 0 then
    return
  end
  local scopes = redis.call('HMGET', c .. ':scopes', unpack(members))
  local gone = {}
  for i, m in ipairs(members) do
    if not (scopes[i] and in_teams(scopes[i], team)) then
      table.insert(gone, m)
    end
  end
  if #gone == 0 then
    return
  end
  redis.call('HDEL', c .. ':monitors', unpack(gone))
  redis.call('HDEL', c .. ':scopes', unpack(gone))
  monitors_changed(c)
  announce_about(gone, id, EVENT.monitor_ended.out_of_scope)
end

-- The presence members of both sides of a conversation (from its hash fields).
local function both_sides(status, cardholder, agent)
  local to = {'c:' .. cardholder}
  if status == 'active' and agent then
    table.insert(to, 'a:' .. agent)
  end
  return to
end

-- Announces the entries of a conversation that were stored but held back
-- (`append_entry` with `hold`: `--redis-wait-replicas`), up to seq `upto`
-- (absent: all), in seq order, to both sides. The conversation's
-- `published` field is the last seq announced; it exists only while
-- entries are held. Every step that announces something else about the
-- conversation (an entry not held, its assignment, transfer or end)
-- releases what is held first, so clients still hear it all in order.
local function release(id, upto)
  local c = k('conv', id)
  local f = redis.call('HMGET', c, 'published', 'status', 'cardholder', 'agent', 'last_seq')
  local from = tonumber(f[1] or '')
  if not from then
    return
  end
  local last = tonumber(f[5] or '0')
  upto = math.min(upto or last, last)
  if from < upto then
    local to = with_monitors(id, both_sides(f[2], f[3], f[4]))
    for i, entry in ipairs(redis.call('LRANGE', k('tx', id), from, upto - 1)) do
      announce_entry(to, id, string.format('%d', from + i), entry)
    end
  end
  if upto >= last then
    redis.call('HDEL', c, 'published')
  elseif from < upto then
    redis.call('HSET', c, 'published', upto)
  end
end

-- The fields of a conversation that appending an entry of `author` reads,
-- in this order (`HMGET` them with this).
local function entry_fields(author)
  return 'status', 'cardholder', 'agent', 'tier', 'last_seq', 'published', 'spoke:' .. author,
    'monitored', 'text_bytes'
end

-- Appends a transcript entry (JSON built by Rust, its seq is its place in
-- the list) and announces it to both sides — or, with `hold`, keeps it from
-- being announced until `release` (once replicas hold it); a known
-- idempotency key returns the stored entry instead. The caller has checked
-- that the conversation takes the entry; `seen`, when given, is its
-- `entry_fields` as the caller just read them (otherwise they are read here);
-- `charge` (a number, nil for the hub's own entries) is added to the
-- conversation's `text_bytes` (Rust's `store::transcript_charge`).
local function append_entry(id, author, key, entry, hold, seen, charge)
  local c, tx = k('conv', id), k('tx', id)
  local g = seen or redis.call('HMGET', c, entry_fields(author))
  -- Seqs are formatted as integers here: a Lua number handed to
  -- `redis.call` would be formatted as a float, several times slower.
  local seq = tonumber(g[5] or '0') + 1
  local seq_s = string.format('%d', seq)
  if key ~= '' and redis.call('HSETNX', tx .. ':keys', key, seq_s) == 0 then
    local known = tonumber(redis.call('HGET', tx .. ':keys', key))
    return {duplicate = true, seq = known, entry = redis.call('LINDEX', tx, known - 1), first = false}
  end
  redis.call('RPUSH', tx, entry)
  local first = not g[7]
  -- One HSET for every field the entry changes.
  local fields = {'last_seq', seq_s, 'last_at', NOW_S}
  if first then
    fields[#fields + 1], fields[#fields + 2] = 'spoke:' .. author, '1'
  end
  if charge then
    fields[#fields + 1] = 'text_bytes'
    fields[#fields + 1] = string.format('%d', tonumber(g[9] or '0') + charge)
  end
  redis.call('HSET', c, unpack(fields))
  if hold then
    if not g[6] then
      redis.call('HSET', c, 'published', g[5] or '0')
    end
  elseif g[6] then
    release(id)
  else
    announce_entry(with_monitors(id, both_sides(g[1], g[2], g[3]), g[8]), id, seq_s, entry)
  end
  -- The caller has the new entry already: only a resend's stored one is sent back.
  return {duplicate = false, seq = seq, first = first}
end

-- Queues a notification for a cardholder connected on no live node (the
-- durable queue: `notify` zset of due times, `notice:<id>` hash), at most one
-- per conversation until the cardholder connects again (`notified:<sub>`,
-- cleared by `came_online`, expiring after `pending` ms). True when queued.
local function queue_notification(cardholder, id, event, nid, pending)
  if present('c:' .. cardholder) then
    return false
  end
  local marks = k('notified', cardholder)
  if redis.call('SADD', marks, id) == 0 then
    return false
  end
  redis.call('PEXPIRE', marks, pending)
  redis.call('HSET', k('notice', nid), 'event', event, 'sub', cardholder, 'conversation', id,
    'at', NOW, 'attempts', 0)
  redis.call('ZADD', k('notify'), NOW, nid)
  redis.call('ZADD', k('notify', 'age'), NOW, nid)
  return true
end

-- Hands an ended conversation ('conv') or a closed callback request ('cb')
-- over. `retention` is Rust's decision: 'archive' appends it to the archive
-- stream, whose archivers expire its keys once PostgreSQL holds it
-- (`handed_over.lua`); a number of ms expires `keys` after that long.
local function hand_over(kind, id, keys, retention)
  if retention == 'archive' then
    redis.call('XADD', k('archive'), '*', 'kind', kind, 'id', id)
  else
    for _, key in ipairs(keys) do
      redis.call('PEXPIRE', key, retention)
    end
  end
end

-- Ends a conversation wherever it stands and announces `ended` to both
-- sides, in the same step (so a new `assigned` for the freed slot can never
-- reach the agent first); false when it was already over. Its record,
-- transcript and idempotency keys are handed over (`hand_over`); no script
-- writes to an ended conversation.
local function end_conv(id, reason, retention)
  local c = k('conv', id)
  local f = redis.call('HMGET', c, 'status', 'cardholder', 'agent', 'tier')
  if not f[1] or f[1] == 'ended' then
    return false
  end
  local ended = EVENT.ended[reason] or error('no `ended` payload for ' .. reason)
  release(id)
  redis.call('HSET', c, 'status', 'ended', 'ended_at', NOW, 'end_reason', reason)
  announce_about(with_monitors(id, both_sides(f[1], f[2], f[3])), id, ended)
  local monitors = with_monitors(id, {})
  if #monitors > 0 then
    announce_about(monitors, id, EVENT.monitor_ended.ended)
  end
  drop_monitors(c)
  if f[1] == 'queued' then
    leave_queue(f[4], id)
    redis.call('ZREM', k('inbox', f[4]), id)
  elseif f[3] then
    redis.call('SREM', k('agent', f[3]) .. ':convs', id)
    redis.call('SREM', k('agent', f[3]) .. ':threads', id)
    agent_refresh(f[3])
  end
  if redis.call('GET', k('open', f[2])) == id then
    redis.call('DEL', k('open', f[2]))
  end
  redis.call('ZREM', k('grace'), 'c:' .. f[2])
  hand_over('conv', id, {c, k('tx', id), k('tx', id) .. ':keys'}, retention)
  return true
end

-- Appends an item (JSON text) to the JSON list a hash field keeps.
local function push_json(key, field, item)
  local list = redis.call('HGET', key, field)
  if list then
    list = string.sub(list, 1, -2) .. ',' .. item .. ']'
  else
    list = '[' .. item .. ']'
  end
  redis.call('HSET', key, field, list)
end

-- Records in a conversation's `transfers` (a JSON list, for the next agent
-- and the archive) the agent it leaves for `tier`, if it had one, with the
-- queue it leaves and the agent's note ('' or nil: none).
local function note_transfer(id, tier, note)
  local c = k('conv', id)
  local from = redis.call('HMGET', c, 'agent', 'agent_name', 'tier')
  if from[1] then
    if note == '' then
      note = nil
    end
    push_json(c, 'transfers', cjson.encode({at = NOW, from = from[1], by_name = from[2],
      from_tier = from[3], tier = tier, note = note}))
  end
end

-- Puts a conversation back in a tier queue after an agent had it, with its
-- returning rank there (Rust's `store::order::QueueRanks`, kept in its
-- `ranks` field: ahead of everyone not served yet, in original order among
-- those who came back), in the away line while its cardholder is in a
-- grace period; the agent it leaves is recorded (`note_transfer`).
local function requeue_at_head(id, tier, note)
  release(id)
  local c = k('conv', id)
  note_transfer(id, tier, note)
  local f = redis.call('HMGET', c, 'ranks', 'cardholder')
  local rank = cjson.decode(f[1])[tier][2]
  redis.call('HSET', c, 'status', 'queued', 'tier', tier, 'queued_at', NOW)
  redis.call('HDEL', c, 'agent', 'agent_name')
  local line = 'q'
  if redis.call('ZSCORE', k('grace'), 'c:' .. f[2]) then
    line = 'away'
  end
  redis.call('ZADD', line_key(tier, line), rank, id)
end

-- Puts a message thread (back) into `tier`'s inbox, unclaimed; the agent it
-- leaves is recorded. Its rank is Rust's `store::inbox::inbox_rank` for its
-- card tier, picked from the call's arguments (from index `from` on: pairs of card
-- tier and rank). False when no rank was given for its card tier.
local function to_inbox(id, tier, from, note)
  release(id)
  local c = k('conv', id)
  local card = redis.call('HGET', c, 'card_tier')
  local rank
  for i = from, #ARGS - 1, 2 do
    if ARGS[i] == card then
      rank = ARGS[i + 1]
    end
  end
  if not rank then
    return false
  end
  note_transfer(id, tier, note)
  redis.call('HSET', c, 'status', 'queued', 'tier', tier, 'queued_at', NOW)
  redis.call('HDEL', c, 'agent', 'agent_name', 'ended_at', 'end_reason')
  redis.call('ZADD', k('inbox', tier), rank, id)
  return true
end

-- Gives a waiting conversation (a queued chat or an inbox thread) to `agent`
-- (its hash `a`): entries still held for the replicas go out first, to
-- those who were already there, so the agent's `assigned` transcript and
-- its live `msg`s never overlap.
local function take_up(id, agent, a)
  release(id)
  redis.call('HSET', k('conv', id), 'status', 'active', 'agent', agent,
    'agent_name', redis.call('HGET', a, 'name') or agent)
end

-- Announces a pairing (routing, or a claimed thread) to both sides with the
-- transcript so far (at most `page` entries; later ones reach the agent as
-- `msg`s) and tells the agent when the cardholder is away. Returns the
-- conversation's fields.
local function announce_assigned(id, agent, waited, page)
  local c = k('conv', id)
  local f = redis.call('HMGET', c, 'last_seq', 'cardholder')
  -- The transcript so far: stored entries carry no seq; it is their place.
  local shown = math.min(tonumber(f[1] or '0'), page)
  local transcript = {}
  if shown > 0 then
    transcript = redis.call('LRANGE', k('tx', id), 0, shown - 1)
  end
  local conversation = redis.call('HGETALL', c)
  -- The record as HGETALL lists it (data, in Lua's JSON), the wait, and
  -- each stored entry with its seq (its place).
  local facts = {US, 'conversation@', cjson.encode(conversation), US, 'waited_ms:',
    string.format('%d', waited)}
  for i, entry in ipairs(transcript) do
    local n = #facts
    facts[n + 1], facts[n + 2], facts[n + 3], facts[n + 4], facts[n + 5] =
      US, 'transcript[]#', string.format('%d', i), ':', entry
  end
  announce({'a:' .. agent, 'c:' .. f[2]}, EVENT.assigned, facts)
  if redis.call('ZSCORE', k('grace'), 'c:' .. f[2]) then
    tell_presence(agent, id, 'away')
  end
  return conversation
end
