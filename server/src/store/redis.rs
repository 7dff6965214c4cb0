//! The Redis engine: routing state shared by every hub node on one Redis.
//!
//! Each [`Store`] call is one Lua script (`store/lua/*.lua`, all sharing
//! `prelude.lua`), so a decision such as "this conversation goes to that
//! agent" is made and written in one atomic step however many nodes route at
//! once. Keys live under a configurable prefix (`<prefix>:conv:<id>`,
//! `<prefix>:q:<tier>`, `<prefix>:agent:<sub>`, …, see ARCHITECTURE.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{Script, Value};
use serde::{Deserialize, Serialize};

/// Builds a script's argument list from displayable values.
macro_rules! argv {
    ($($a:expr),* $(,)?) => { vec![$($a.to_string()),*] };
}

use super::QueueStanding;
use super::{
    average_wait, new_callback_ref, AgentProfile, AgentSnapshot, Appended, Assignment,
    CallbackRequest, Conversation, GraceOutcome, Graces, NewCallback, NewConversation, NewEntry,
    Opened, QueuePlace, QueueSnapshot, Side, Store, StoreError, StoreResult, MAX_CALLBACK_ATTEMPTS,
    MAX_TRANSCRIPT_PAGE, RECENT_WAITS, ROUTE_BATCH,
};
use crate::domain::{
    rfc3339, AgentState, Author, CallbackRef, ConversationId, ConversationStatus, Desk, EndReason,
    Millis, Seq, Tier, TierBoosts, UserId,
};
use crate::protocol::{CallbackOutcome, Entry, QueueView};

/// How long a node may miss heartbeats before others take it for dead.
pub const NODE_STALE_MS: Millis = 15_000;

/// Most grace expiries applied in one step.
const GRACE_BATCH: usize = 100;

/// How long one Redis call may take before the hub answers `unavailable`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The scripts, compiled once (their SHA1 is computed up front; Redis loads
/// them on first use and after a restart).
#[derive(Debug)]
struct Scripts {
    open: Script,
    append: Script,
    end: Script,
    transfer: Script,
    register_agent: Script,
    set_state: Script,
    route: Script,
    queue_snapshot: Script,
    queue_place: Script,
    queue_stats: Script,
    presence: Script,
    expire_graces: Script,
    heartbeat: Script,
    request_callback: Script,
    list_callbacks: Script,
    claim_callback: Script,
    complete_callback: Script,
}

impl Scripts {
    fn load() -> Self {
        let prelude = include_str!("lua/prelude.lua");
        let s = |body: &str| Script::new(&format!("{prelude}\n{body}"));
        Scripts {
            open: s(include_str!("lua/open.lua")),
            append: s(include_str!("lua/append.lua")),
            end: s(include_str!("lua/end.lua")),
            transfer: s(include_str!("lua/transfer.lua")),
            register_agent: s(include_str!("lua/register_agent.lua")),
            set_state: s(include_str!("lua/set_state.lua")),
            route: s(include_str!("lua/route.lua")),
            queue_snapshot: s(include_str!("lua/queue_snapshot.lua")),
            queue_place: s(include_str!("lua/queue_place.lua")),
            queue_stats: s(include_str!("lua/queue_stats.lua")),
            presence: s(include_str!("lua/presence.lua")),
            expire_graces: s(include_str!("lua/expire_graces.lua")),
            heartbeat: s(include_str!("lua/heartbeat.lua")),
            request_callback: s(include_str!("lua/request_callback.lua")),
            list_callbacks: s(include_str!("lua/list_callbacks.lua")),
            claim_callback: s(include_str!("lua/claim_callback.lua")),
            complete_callback: s(include_str!("lua/complete_callback.lua")),
        }
    }
}

/// The Redis engine; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    /// Multiplexed connection that reconnects by itself.
    conn: ConnectionManager,
    /// Key prefix, so that several hubs (or tests) can share one Redis.
    prefix: Arc<str>,
    /// This node's id, for presence bookkeeping.
    node: Arc<str>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A transcript entry as stored in the `tx` list (its seq is its position).
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    from: Author,
    text: String,
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

impl RedisStore {
    /// Connects to Redis at `url`; keys go under `prefix`, presence under `node`.
    pub async fn connect(url: &str, prefix: &str, node: &str) -> StoreResult<Self> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(2);
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.into(),
            node: node.into(),
            scripts: Arc::new(Scripts::load()),
        })
    }

    /// The pub/sub channel for events every node delivers.
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// This node's own pub/sub channel: the store scripts publish an event
    /// only to the nodes where its recipients are connected.
    pub fn node_channel(&self) -> String {
        format!("{}:events:{}", self.prefix, self.node)
    }

    /// Publishes messages on a channel in one pipelined round trip.
    pub async fn publish_many(&self, channel: &str, payloads: &[String]) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        for p in payloads {
            pipe.cmd("PUBLISH").arg(channel).arg(p).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Runs a script with the prefix as ARGV[1] followed by `args`.
    async fn run(&self, script: &Script, args: Vec<String>) -> StoreResult<Value> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&*self.prefix);
        for a in args {
            invocation.arg(a);
        }
        let mut conn = self.conn.clone();
        Ok(invocation.invoke_async(&mut conn).await?)
    }

    /// Whether a node with this id has sent a heartbeat recently: two live
    /// processes must not share a node id.
    pub async fn node_alive(&self, now: Millis) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let last: Option<f64> = redis::cmd("ZSCORE")
            .arg(format!("{}:nodes", self.prefix))
            .arg(&*self.node)
            .query_async(&mut conn)
            .await?;
        Ok(last.is_some_and(|t| t as Millis > now - NODE_STALE_MS))
    }

    /// Marks this node's previous incarnation dead (call once at start-up
    /// when the node id is fixed by configuration).
    pub async fn reset_node(&self, now: Millis, grace: &Graces) -> StoreResult<()> {
        self.heartbeat_inner(now, grace, true).await
    }

    async fn heartbeat_inner(&self, now: Millis, grace: &Graces, reset: bool) -> StoreResult<()> {
        self.run(
            &self.scripts.heartbeat,
            argv![
                &*self.node,
                now,
                NODE_STALE_MS,
                grace.cardholder_ms,
                grace.agent_ms,
                if reset { "1" } else { "0" }
            ],
        )
        .await?;
        Ok(())
    }
}

fn member(side: Side, user: &UserId) -> String {
    match side {
        Side::Cardholder => format!("c:{user}"),
        Side::Agent => format!("a:{user}"),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unexpected reply from Redis: {what}"))
}

fn items(v: Value) -> StoreResult<Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(&format!("expected an array, got {other:?}"))),
    }
}

fn int(v: &Value) -> StoreResult<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt("expected an integer")),
        _ => Err(corrupt("expected an integer")),
    }
}

fn text(v: Value) -> StoreResult<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).map_err(|_| corrupt("invalid UTF-8")),
        Value::SimpleString(s) => Ok(s),
        Value::Int(i) => Ok(i.to_string()),
        Value::Nil => Ok(String::new()),
        _ => Err(corrupt("expected a string")),
    }
}

/// Parses a `HGETALL` reply into field → value.
fn hash(v: Value) -> StoreResult<HashMap<String, String>> {
    let flat = items(v)?;
    let mut fields = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        fields.insert(text(k)?, text(v)?);
    }
    Ok(fields)
}

/// Parses a `HGETALL` of a callback request hash.
fn callback(v: Value) -> StoreResult<CallbackRequest> {
    let mut f = hash(v)?;
    let mut take = |name: &str| f.remove(name).ok_or_else(|| corrupt(name));
    let reference = CallbackRef(take("ref")?);
    let desk: Desk = take("desk")?.parse().map_err(|_| corrupt("desk"))?;
    let sub = UserId(take("sub")?);
    let tier: Tier = take("tier")?.parse().map_err(|_| corrupt("tier"))?;
    let reason = take("reason")?;
    let conversation = ConversationId(take("conversation")?);
    let created_at = take("created_at")?
        .parse()
        .map_err(|_| corrupt("created_at"))?;
    let status = take("status")?.parse().map_err(|_| corrupt("status"))?;
    let attempts = take("attempts")?.parse().map_err(|_| corrupt("attempts"))?;
    let history = take("history").unwrap_or_default();
    Ok(CallbackRequest {
        reference,
        desk,
        sub,
        tier,
        reason,
        conversation,
        created_at,
        status,
        attempts,
        claimed_by: take("claimed_by").ok().map(UserId),
        phone_last4: take("phone_last4").ok(),
        history: history
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Parses a `HGETALL` of a conversation hash.
fn conversation(v: Value) -> StoreResult<Conversation> {
    let fields = hash(v)?;
    let get = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| corrupt(name))
    };
    let num = |name: &str| -> StoreResult<i64> { get(name)?.parse().map_err(|_| corrupt(name)) };
    let parsed = |name: &str| get(name).map(str::to_owned);
    Ok(Conversation {
        id: ConversationId(parsed("id")?),
        cardholder: UserId(parsed("cardholder")?),
        cardholder_name: fields.get("name").cloned(),
        card_tier: get("card_tier")?
            .parse()
            .map_err(|_| corrupt("card_tier"))?,
        tier: get("tier")?.parse().map_err(|_| corrupt("tier"))?,
        topic: get("topic")?.parse().map_err(|_| corrupt("topic"))?,
        status: get("status")?.parse().map_err(|_| corrupt("status"))?,
        agent: fields.get("agent").cloned().map(UserId),
        agent_name: fields.get("agent_name").cloned(),
        created_at: num("created_at")?,
        queued_at: num("queued_at")?,
        last_seq: u64::try_from(num("last_seq")?).map_err(|_| corrupt("last_seq"))?,
        phone_last4: fields.get("phone").cloned(),
    })
}

fn entry(seq: Seq, json: &str) -> StoreResult<Entry> {
    let stored: StoredEntry =
        serde_json::from_str(json).map_err(|_| corrupt("transcript entry"))?;
    Ok(Entry {
        seq,
        from: stored.from,
        text: stored.text,
        at: stored.at,
        id: stored.id,
    })
}

/// Splits a `{status, payload…}` script reply.
fn status_and_rest(v: Value) -> StoreResult<(i64, std::vec::IntoIter<Value>)> {
    let mut it = items(v)?.into_iter();
    let status = int(&it.next().ok_or_else(|| corrupt("empty reply"))?)?;
    Ok((status, it))
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn open_conversation(&self, new: NewConversation) -> StoreResult<Opened> {
        let id = ConversationId::generate();
        let reply = self
            .run(
                &self.scripts.open,
                argv![
                    new.cardholder.as_str(),
                    new.name.as_deref().unwrap_or(""),
                    new.tier.as_str(),
                    new.topic.as_str(),
                    if new.enqueue { "1" } else { "0" },
                    new.now,
                    id.as_str(),
                    new.phone_last4.as_deref().unwrap_or("")
                ],
            )
            .await?;
        let (created, mut rest) = status_and_rest(reply)?;
        let conversation = conversation(rest.next().ok_or_else(|| corrupt("open"))?)?;
        Ok(Opened {
            conversation,
            created: created == 1,
        })
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn.clone();
        let v: Value = redis::cmd("HGETALL")
            .arg(format!("{}:conv:{id}", self.prefix))
            .query_async(&mut conn)
            .await?;
        match &v {
            Value::Array(a) if a.is_empty() => Ok(None),
            Value::Map(m) if m.is_empty() => Ok(None),
            Value::Nil => Ok(None),
            _ => conversation(v).map(Some),
        }
    }

    async fn open_conversation_of(&self, cardholder: &UserId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn.clone();
        let id: Option<String> = redis::cmd("GET")
            .arg(format!("{}:open:{cardholder}", self.prefix))
            .query_async(&mut conn)
            .await?;
        match id {
            Some(id) => Ok(self
                .conversation(&ConversationId(id))
                .await?
                .filter(|c| c.status != ConversationStatus::Ended)),
            None => Ok(None),
        }
    }

    async fn append(&self, id: &ConversationId, new: NewEntry) -> StoreResult<Appended> {
        let at = rfc3339(new.now);
        let json = serde_json::to_string(&StoredEntry {
            from: new.author,
            text: new.text,
            at,
            id: new.client_id.clone(),
        })
        .map_err(|_| corrupt("encoding entry"))?;
        let sender = new.sender.as_ref().map_or("", UserId::as_str);
        let reply = self
            .run(
                &self.scripts.append,
                argv![
                    id.as_str(),
                    new.author.as_str(),
                    sender,
                    new.client_id.as_deref().unwrap_or(""),
                    json,
                    new.announce.as_ref().map_or("", |t| t.before.as_str()),
                    new.announce.as_ref().map_or("", |t| t.after.as_str())
                ],
            )
            .await?;
        let (duplicate, mut rest) = status_and_rest(reply)?;
        if duplicate < 0 {
            return Err(StoreError::NoConversation);
        }
        let mut next = || rest.next().ok_or_else(|| corrupt("append"));
        let seq = u64::try_from(int(&next()?)?).map_err(|_| corrupt("seq"))?;
        let entry = entry(seq, &text(next()?)?)?;
        let cardholder = UserId(text(next()?)?);
        let agent = Some(text(next()?)?).filter(|a| !a.is_empty()).map(UserId);
        let status = text(next()?)?.parse().map_err(|_| corrupt("status"))?;
        let first_from_author = int(&next()?)? == 1;
        Ok(Appended {
            entry,
            duplicate: duplicate == 1,
            cardholder,
            agent,
            status,
            first_from_author,
        })
    }

    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let start = i64::try_from(after).unwrap_or(i64::MAX);
        let stop = start.saturating_add(limit as i64).saturating_sub(1);
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{}:tx:{id}", self.prefix))
            .arg(start)
            .arg(stop)
            .query_async(&mut conn)
            .await?;
        raw.iter()
            .enumerate()
            .map(|(i, json)| entry(after + i as Seq + 1, json))
            .collect()
    }

    async fn end(
        &self,
        id: &ConversationId,
        by_agent: Option<&UserId>,
        reason: EndReason,
        _now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let by = by_agent.map_or("", UserId::as_str);
        let reply = self
            .run(&self.scripts.end, argv![id.as_str(), by, reason.as_str()])
            .await?;
        let (status, mut rest) = status_and_rest(reply)?;
        match status {
            1 => Ok(Some(conversation(
                rest.next().ok_or_else(|| corrupt("end"))?,
            )?)),
            0 => Ok(None),
            _ => Err(StoreError::NoConversation),
        }
    }

    async fn transfer(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tier: Tier,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let reply = self
            .run(
                &self.scripts.transfer,
                argv![id.as_str(), agent.as_str(), tier.as_str(), now],
            )
            .await?;
        let (status, mut rest) = status_and_rest(reply)?;
        if status != 1 {
            return Err(StoreError::NoConversation);
        }
        conversation(rest.next().ok_or_else(|| corrupt("transfer"))?)
    }

    async fn register_agent(
        &self,
        profile: &AgentProfile,
        now: Millis,
    ) -> StoreResult<AgentSnapshot> {
        let teams = profile
            .teams
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let reply = self
            .run(
                &self.scripts.register_agent,
                argv![
                    profile.sub.as_str(),
                    profile.name.as_str(),
                    teams,
                    profile.max_chats,
                    now
                ],
            )
            .await?;
        let mut it = items(reply)?.into_iter();
        let state = text(it.next().ok_or_else(|| corrupt("agent state"))?)?
            .parse()
            .map_err(|_| corrupt("agent state"))?;
        let active = items(it.next().unwrap_or(Value::Nil))?
            .into_iter()
            .map(conversation)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(AgentSnapshot { state, active })
    }

    async fn set_agent_state(
        &self,
        agent: &UserId,
        state: AgentState,
        now: Millis,
    ) -> StoreResult<()> {
        let reply = self
            .run(
                &self.scripts.set_state,
                argv![agent.as_str(), state.as_str(), now],
            )
            .await?;
        if int(&reply)? < 0 {
            return Err(StoreError::NotAllowed);
        }
        Ok(())
    }

    async fn route(&self, now: Millis, boosts: &TierBoosts) -> StoreResult<Vec<Assignment>> {
        let reply = self
            .run(
                &self.scripts.route,
                argv![
                    now,
                    boosts.millis(Tier::Standard),
                    boosts.millis(Tier::Premium),
                    boosts.millis(Tier::Business),
                    boosts.millis(Tier::Prepaid),
                    ROUTE_BATCH,
                    RECENT_WAITS,
                    MAX_TRANSCRIPT_PAGE
                ],
            )
            .await?;
        items(reply)?
            .into_iter()
            .map(|pair| {
                let mut it = items(pair)?.into_iter();
                let waited_ms = int(&it.next().ok_or_else(|| corrupt("route"))?)?;
                let conversation = conversation(it.next().ok_or_else(|| corrupt("route"))?)?;
                Ok(Assignment {
                    conversation,
                    waited_ms,
                })
            })
            .collect()
    }

    async fn queue_standing(
        &self,
        id: &ConversationId,
        tier: Tier,
    ) -> StoreResult<Option<QueueStanding>> {
        let reply = self
            .run(&self.scripts.queue_place, argv![tier.as_str(), id.as_str()])
            .await?;
        let mut it = items(reply)?.into_iter();
        let position = int(&it.next().unwrap_or(Value::Int(0)))?;
        let depth = int(&it.next().unwrap_or(Value::Int(0)))?;
        let waits = items(it.next().unwrap_or(Value::Nil))?
            .iter()
            .map(int)
            .collect::<StoreResult<Vec<_>>>()?;
        if position <= 0 {
            return Ok(None);
        }
        Ok(Some(QueueStanding {
            position: position as u64,
            depth: depth.max(0) as u64,
            recent_wait_ms: average_wait(&waits),
        }))
    }

    async fn queue_snapshot(&self, tier: Tier) -> StoreResult<QueueSnapshot> {
        let reply = self
            .run(&self.scripts.queue_snapshot, argv![tier.as_str()])
            .await?;
        let mut it = items(reply)?.into_iter();
        let places = items(it.next().unwrap_or(Value::Nil))?
            .into_iter()
            .enumerate()
            .map(|(i, pair)| {
                let mut p = items(pair)?.into_iter();
                let conversation = ConversationId(text(p.next().unwrap_or(Value::Nil))?);
                let cardholder = UserId(text(p.next().unwrap_or(Value::Nil))?);
                Ok(QueuePlace {
                    conversation,
                    cardholder,
                    position: i as u64 + 1,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let waits = items(it.next().unwrap_or(Value::Nil))?
            .iter()
            .map(int)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(QueueSnapshot {
            places,
            recent_wait_ms: average_wait(&waits),
        })
    }

    async fn queue_stats(&self, now: Millis) -> StoreResult<Vec<QueueView>> {
        let reply = self.run(&self.scripts.queue_stats, argv![]).await?;
        items(reply)?
            .into_iter()
            .zip(Tier::ALL)
            .map(|(row, &tier)| {
                let mut it = items(row)?.into_iter();
                let waiting = int(&it.next().unwrap_or(Value::Int(0)))?;
                let since = text(it.next().unwrap_or(Value::Nil))?;
                let oldest_wait_s = since
                    .parse::<Millis>()
                    .map_or(0, |t| ((now - t).max(0) / 1000) as u64);
                Ok(QueueView {
                    tier,
                    waiting: waiting.max(0) as u64,
                    oldest_wait_s,
                })
            })
            .collect()
    }

    async fn presence_up(&self, user: &UserId, side: Side) -> StoreResult<()> {
        let now = crate::domain::now_millis();
        self.run(
            &self.scripts.presence,
            argv![&*self.node, member(side, user), 1, now, 0],
        )
        .await?;
        Ok(())
    }

    async fn presence_down(
        &self,
        user: &UserId,
        side: Side,
        now: Millis,
        grace_ms: Millis,
    ) -> StoreResult<()> {
        self.run(
            &self.scripts.presence,
            argv![&*self.node, member(side, user), -1, now, (now + grace_ms)],
        )
        .await?;
        Ok(())
    }

    async fn expire_graces(&self, now: Millis) -> StoreResult<Vec<GraceOutcome>> {
        let reply = self
            .run(&self.scripts.expire_graces, argv![now, GRACE_BATCH])
            .await?;
        items(reply)?
            .into_iter()
            .map(|row| {
                let mut it = items(row)?.into_iter();
                let kind = text(it.next().unwrap_or(Value::Nil))?;
                if kind == "abandoned" {
                    let c = conversation(it.next().ok_or_else(|| corrupt("grace"))?)?;
                    Ok(GraceOutcome::Abandoned(c))
                } else {
                    let agent = UserId(text(it.next().unwrap_or(Value::Nil))?);
                    let conversation = conversation(it.next().ok_or_else(|| corrupt("grace"))?)?;
                    Ok(GraceOutcome::Requeued {
                        conversation,
                        agent,
                    })
                }
            })
            .collect()
    }

    async fn heartbeat(&self, now: Millis, grace: &Graces) -> StoreResult<()> {
        self.heartbeat_inner(now, grace, false).await
    }

    async fn retire(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .cmd("ZREM")
            .arg(format!("{}:nodes", self.prefix))
            .arg(&*self.node)
            .ignore()
            .cmd("DEL")
            .arg(format!("{}:presence:{}", self.prefix, self.node))
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn request_callback(&self, new: NewCallback) -> StoreResult<(CallbackRequest, bool)> {
        loop {
            let reference = new_callback_ref(new.desk);
            let reply = self
                .run(
                    &self.scripts.request_callback,
                    argv![
                        new.desk.as_str(),
                        new.sub.as_str(),
                        new.tier.as_str(),
                        new.reason,
                        new.conversation.as_str(),
                        new.phone_last4.as_deref().unwrap_or(""),
                        new.now,
                        reference.as_str()
                    ],
                )
                .await?;
            let (status, mut rest) = status_and_rest(reply)?;
            if status >= 0 {
                let request = callback(rest.next().ok_or_else(|| corrupt("callback"))?)?;
                return Ok((request, status == 1));
            }
        }
    }

    async fn callbacks(&self, desk: Desk) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run(&self.scripts.list_callbacks, argv!["desk", desk.as_str()])
            .await?;
        items(reply)?.into_iter().map(callback).collect()
    }

    async fn callbacks_of(&self, sub: &UserId) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run(&self.scripts.list_callbacks, argv!["sub", sub.as_str()])
            .await?;
        let mut list = items(reply)?
            .into_iter()
            .map(callback)
            .collect::<StoreResult<Vec<_>>>()?;
        list.sort_by_key(super::desk_order);
        Ok(list)
    }

    async fn claim_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
    ) -> StoreResult<CallbackRequest> {
        let reply = self
            .run(
                &self.scripts.claim_callback,
                argv![reference.as_str(), agent.as_str()],
            )
            .await?;
        callback_outcome(reply)
    }

    async fn complete_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        outcome: CallbackOutcome,
    ) -> StoreResult<CallbackRequest> {
        let reply = self
            .run(
                &self.scripts.complete_callback,
                argv![
                    reference.as_str(),
                    agent.as_str(),
                    outcome.as_str(),
                    MAX_CALLBACK_ATTEMPTS
                ],
            )
            .await?;
        callback_outcome(reply)
    }
}

/// `{1, request}` → the request; `{0}` → not allowed; `{-1}` → unknown.
fn callback_outcome(reply: Value) -> StoreResult<CallbackRequest> {
    let (status, mut rest) = status_and_rest(reply)?;
    match status {
        1 => callback(rest.next().ok_or_else(|| corrupt("callback"))?),
        0 => Err(StoreError::NotAllowed),
        _ => Err(StoreError::NoConversation),
    }
}
