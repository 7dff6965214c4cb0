//! Script replies and stored records, decoded by named structs.
//!
//! Every script answers one JSON document (`cjson.encode` of a table with
//! named fields); each has its struct here. Records come back as the flat
//! `HGETALL` list of a hash ([`Fields`]) and are turned into the store's
//! records by [`conversation`] and [`callback`]. Lua's JSON encoder writes an
//! empty table as `{}`, so lists accept that too.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::keys;
use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::{Conversation, Entry, Summary, Transfer};
use crate::domain::{
    Author, CallbackRef, CardholderPresence, ConversationId, ConversationKind, Millis, Seq, UserId,
};
use crate::store::{StoreError, StoreResult};

/// Errors for replies that do not have the expected shape.
pub fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unexpected reply from Redis: {what}"))
}

/// Decodes a script's JSON reply.
pub fn decode<T: for<'de> Deserialize<'de>>(reply: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(reply).map_err(|e| corrupt(&format!("{what}: {e}")))
}

/// A hash as `HGETALL` lists it: field, value, field, value, …
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    fn get(&self, name: &str) -> StoreResult<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| corrupt(name))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> StoreResult<T> {
        self.get(name)?.parse().map_err(|_| corrupt(name))
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// Whether the hash was empty (the key did not exist).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Fields::from_flat(lua_list(d)?))
    }
}

/// A list, which Lua's JSON encoder writes as `{}` when it is empty.
pub fn lua_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            match map.next_key::<de::IgnoredAny>()? {
                None => Ok(Vec::new()),
                Some(_) => Err(de::Error::custom("expected a list, found an object")),
            }
        }
    }
    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}

/// A number Redis handed back as a string (list items, hash values).
#[derive(Debug, Clone, Copy)]
pub struct Num(pub i64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(i) => Ok(Num(i)),
            Raw::Text(s) => s.parse().map(Num).map_err(de::Error::custom),
        }
    }
}

/// The waits of a `waits` list, in ms.
pub fn waits(list: &[Num]) -> Vec<Millis> {
    list.iter().map(|n| n.0).collect()
}

/// A conversation hash as a record (user ids decoded).
pub fn conversation(f: &Fields) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: ConversationId(f.get("id")?.to_owned()),
        cardholder: keys::decode(f.get("cardholder")?),
        cardholder_name: f.optional("name"),
        card_tier: f.parsed("card_tier")?,
        tier: f.parsed("tier")?,
        topic: f.parsed("topic")?,
        status: f.parsed("status")?,
        agent: f.optional("agent").map(|a| keys::decode(&a)),
        agent_name: f.optional("agent_name"),
        created_at: f.parsed("created_at")?,
        queued_at: f.parsed("queued_at")?,
        last_seq: f.parsed("last_seq")?,
        phone_last4: f.optional("phone"),
        ended_at: f.optional("ended_at").and_then(|t| t.parse().ok()),
        end_reason: f.optional("end_reason").and_then(|r| r.parse().ok()),
        history: f
            .optional("history")
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default(),
        kind: f
            .optional("kind")
            .map_or(Ok(ConversationKind::Chat), |k| k.parse())
            .map_err(|_| corrupt("conversation kind"))?,
        last_at: f.optional("last_at").and_then(|t| t.parse().ok()),
        read_seq: f
            .optional("read_seq")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        transfers: transfers(f),
        notes: f
            .optional("notes")
            .and_then(|n| serde_json::from_str(&n).ok())
            .unwrap_or_default(),
        rating: f
            .optional("rating")
            .and_then(|r| serde_json::from_str(&r).ok()),
    })
}

/// The cardholder's last conversations as `open.lua` keeps them on the
/// record ('' when there are none).
pub fn encode_history(history: &[Summary]) -> StoreResult<String> {
    if history.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(history).map_err(|e| corrupt(&format!("history: {e}")))
}

/// The agents a conversation was transferred away from (`requeue_at_head`
/// in `prelude.lua`), ids decoded.
fn transfers(f: &Fields) -> Vec<Transfer> {
    let mut list: Vec<Transfer> = f
        .optional("transfers")
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    for t in &mut list {
        t.from = keys::decode(t.from.as_str());
    }
    list
}

/// The callback request a conversation was escalated to.
pub fn escalated_to(f: &Fields) -> Option<CallbackRef> {
    f.optional("callback").map(CallbackRef)
}

/// A callback request hash as a record (user ids decoded).
pub fn callback(f: &Fields) -> StoreResult<CallbackRequest> {
    Ok(CallbackRequest {
        reference: CallbackRef(f.get("ref")?.to_owned()),
        desk: f.parsed("desk")?,
        sub: keys::decode(f.get("sub")?),
        name: f.optional("name"),
        tier: f.parsed("tier")?,
        reason: f.get("reason")?.to_owned(),
        cause: f
            .optional("cause")
            .and_then(|c| serde_json::from_str(&c).ok()),
        conversation: ConversationId(f.get("conversation")?.to_owned()),
        created_at: f.parsed("created_at")?,
        status: f.parsed("status")?,
        attempts: f.parsed("attempts")?,
        claimed_by: f.optional("claimed_by").map(|a| keys::decode(&a)),
        phone_last4: f.optional("phone_last4"),
        history: f
            .optional("history")
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default(),
    })
}

/// A value the store keeps as JSON text (built by Rust, never by a script).
pub fn encode_json<T: Serialize>(value: &T, what: &str) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt(&format!("{what}: {e}")))
}

/// A transcript entry as stored in the `tx` list (its seq is its position).
#[derive(Serialize, Deserialize)]
pub struct StoredEntry {
    /// Who wrote it.
    pub from: Author,
    /// The (masked) text.
    pub text: String,
    /// RFC 3339.
    pub at: String,
    /// The sender's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl StoredEntry {
    /// The JSON stored for a new entry.
    pub fn encode(from: Author, text: &str, at: &str, id: Option<&str>) -> StoreResult<String> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            from: Author,
            text: &'a str,
            at: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a str>,
        }
        serde_json::to_string(&Borrowed { from, text, at, id })
            .map_err(|_| corrupt("encoding an entry"))
    }
}

impl StoredEntry {
    /// The entry with its seq (its place in the list).
    pub fn with_seq(self, seq: Seq) -> Entry {
        Entry {
            seq,
            from: self.from,
            text: self.text,
            at: self.at,
            id: self.id,
        }
    }

    /// The JSON stored for an entry that exists (its seq is its place).
    pub fn of(e: &Entry) -> StoreResult<String> {
        StoredEntry::encode(e.from, &e.text, &e.at, e.id.as_deref())
    }
}

/// A stored entry with its seq.
pub fn entry(seq: Seq, json: &str) -> StoreResult<Entry> {
    let stored: StoredEntry =
        serde_json::from_str(json).map_err(|_| corrupt("transcript entry"))?;
    Ok(stored.with_seq(seq))
}

/// Entries stored from seq 1 on.
pub fn entries_from(first_seq: Seq, list: &[String]) -> StoreResult<Vec<Entry>> {
    list.iter()
        .enumerate()
        .map(|(i, json)| entry(first_seq + i as Seq, json))
        .collect()
}

/// `open.lua`.
#[derive(Deserialize)]
pub struct OpenReply {
    /// False when the cardholder's open conversation came back.
    pub created: bool,
    /// The conversation.
    pub conversation: Fields,
}

/// `inbox_open.lua`.
#[derive(Deserialize)]
pub struct ThreadOpenReply {
    /// False: the cardholder holds the most open threads.
    pub ok: bool,
    /// False when the thread with that id came back (a resent `start`).
    #[serde(default)]
    pub created: bool,
    /// The thread.
    #[serde(default)]
    pub conversation: Fields,
}

/// `append.lua`.
#[derive(Deserialize)]
pub struct AppendReply {
    /// False: over, or not the sender's conversation.
    pub ok: bool,
    /// A resend of a stored entry.
    #[serde(default)]
    pub duplicate: bool,
    /// The entry's seq.
    #[serde(default)]
    pub seq: Seq,
    /// The stored entry.
    #[serde(default)]
    pub entry: String,
    /// The conversation's cardholder (encoded).
    #[serde(default)]
    pub cardholder: String,
    /// Its agent (encoded), when served.
    #[serde(default)]
    pub agent: Option<String>,
    /// Its status.
    #[serde(default)]
    pub status: String,
    /// A notification was queued for the absent cardholder.
    #[serde(default)]
    pub notified: bool,
    /// The first entry of this author.
    #[serde(default)]
    pub first: bool,
    /// The entry reopened a resolved thread.
    #[serde(default)]
    pub reopened: bool,
    /// Nothing done: the message would reopen a resolved thread, and the
    /// call must be made again with the inbox ranks.
    #[serde(default)]
    pub wants_ranks: bool,
    /// Nothing done: the entry would take the transcript past its bounds.
    #[serde(default)]
    pub full: bool,
    /// Nothing done: an entry to redact no longer holds the text the hub read.
    #[serde(default)]
    pub conflict: bool,
}

/// `recent.lua`: a transcript's last entries.
#[derive(Deserialize)]
pub struct TailReply {
    /// The seq of the first of them.
    pub first: Seq,
    /// The stored entries (JSON), oldest first; absent when there are none.
    #[serde(default)]
    pub entries: Vec<String>,
}

/// `inbox_claim.lua`.
#[derive(Deserialize)]
pub struct ClaimReply {
    /// `won`, `taken` or `missing`.
    pub outcome: String,
    /// The thread after the claim.
    #[serde(default)]
    pub conversation: Fields,
    /// How long it waited in the inbox.
    #[serde(default)]
    pub waited_ms: Millis,
}

/// `heartbeat.lua`.
#[derive(Deserialize)]
pub struct HeartbeatReply {
    /// The store's epoch after the step.
    pub epoch: String,
    /// Conversations whose agent went with a dead node, told so.
    #[serde(deserialize_with = "lua_list")]
    pub told: Vec<String>,
    /// This node had been taken for dead (its presence is gone).
    pub revived: bool,
}

/// `end.lua`.
#[derive(Deserialize)]
pub struct EndReply {
    /// False: no such conversation, or not the agent's.
    pub found: bool,
    /// False: it was over already.
    pub ended: bool,
    /// The conversation after the step.
    #[serde(default)]
    pub conversation: Fields,
}

/// `escalate.lua`.
#[derive(Deserialize)]
pub struct EscalateReply {
    /// False: it was over already.
    pub ended: bool,
    /// The conversation after the step.
    #[serde(default)]
    pub conversation: Fields,
}

/// `transfer.lua`, `set_state.lua`.
#[derive(Deserialize)]
pub struct OkReply {
    /// Whether the step was allowed.
    pub ok: bool,
    /// The conversation after the step (transfer).
    #[serde(default)]
    pub conversation: Fields,
}

/// `monitor.lua`.
#[derive(Debug, Deserialize)]
pub struct MonitorReply {
    /// Whether the monitor started (or stopped).
    pub ok: bool,
    /// The conversation's team is not one of the supervisor's.
    #[serde(default)]
    pub outside: bool,
    /// The conversation after the step.
    #[serde(default)]
    pub conversation: Fields,
}

/// `register_agent.lua`.
#[derive(Deserialize)]
pub struct AgentReply {
    /// The agent's availability.
    pub state: String,
    /// Chats it holds.
    #[serde(deserialize_with = "lua_list")]
    pub conversations: Vec<Fields>,
    /// Whether each chat's cardholder is there, in the same order.
    #[serde(default, deserialize_with = "lua_list")]
    pub presence: Vec<CardholderPresence>,
}

/// One pairing in `route.lua`'s reply.
#[derive(Deserialize)]
pub struct RouteItem {
    /// How long it waited.
    pub waited_ms: Millis,
    /// The conversation, now active.
    pub conversation: Fields,
}

/// `queue_place.lua`.
#[derive(Deserialize)]
pub struct PlaceReply {
    /// 1 = next; 0 = not queued there.
    pub position: u64,
    /// Conversations in that queue.
    pub depth: u64,
    /// Recent waits.
    #[serde(deserialize_with = "lua_list")]
    pub waits: Vec<Num>,
}

/// One place in `queue_snapshot.lua`'s reply.
#[derive(Deserialize)]
pub struct PlaceItem {
    /// The conversation.
    pub conversation: String,
    /// Its cardholder (encoded).
    pub cardholder: String,
    /// When it entered the queue (ms).
    #[serde(default)]
    pub queued_at: Millis,
}

/// `queue_snapshot.lua`.
#[derive(Deserialize)]
pub struct SnapshotReply {
    /// In serving order.
    #[serde(deserialize_with = "lua_list")]
    pub places: Vec<PlaceItem>,
    /// Recent waits.
    #[serde(deserialize_with = "lua_list")]
    pub waits: Vec<Num>,
}

/// One row of `queue_stats.lua`'s reply.
#[derive(Deserialize)]
pub struct StatsItem {
    /// The tier.
    pub tier: String,
    /// Conversations waiting.
    pub depth: u64,
    /// The head's `queued_at`, '' when empty.
    pub since: String,
}

/// `overview.lua`.
#[derive(Deserialize)]
pub struct OverviewReply {
    /// The tier queues asked for.
    #[serde(deserialize_with = "lua_list")]
    pub queues: Vec<OverviewQueue>,
    /// The agents of the teams asked for.
    #[serde(deserialize_with = "lua_list")]
    pub agents: Vec<OverviewAgent>,
    /// The desks asked for.
    #[serde(deserialize_with = "lua_list")]
    pub desks: Vec<OverviewDesk>,
}

/// One queue of [`OverviewReply`].
#[derive(Deserialize)]
pub struct OverviewQueue {
    /// The tier.
    pub tier: String,
    /// Conversations waiting.
    pub depth: u64,
    /// The head's `queued_at`, '' when empty.
    pub since: String,
    /// Recent waits (ms), newest first.
    #[serde(deserialize_with = "lua_list")]
    pub waits: Vec<Num>,
}

/// One agent of [`OverviewReply`].
#[derive(Deserialize)]
pub struct OverviewAgent {
    /// Encoded agent id.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// `available` or `away`.
    pub state: String,
    /// When the state last changed (ms).
    pub since: Num,
    /// Concurrent chat limit.
    pub max_chats: Num,
    /// Teams, comma-separated.
    pub teams: String,
    /// Whether a live node holds a connection of the agent.
    pub online: bool,
    /// The chats it holds.
    #[serde(deserialize_with = "lua_list")]
    pub conversations: Vec<String>,
}

/// One desk of [`OverviewReply`].
#[derive(Deserialize)]
pub struct OverviewDesk {
    /// The desk.
    pub desk: String,
    /// Its open requests.
    pub open: u64,
}

/// One outcome in `expire_graces.lua`'s reply.
#[derive(Deserialize)]
pub struct GraceItem {
    /// A queued conversation that ended.
    #[serde(default)]
    pub abandoned: Option<Fields>,
    /// A chat that went back to the queue…
    #[serde(default)]
    pub requeued: Option<Fields>,
    /// …from this agent (encoded).
    #[serde(default)]
    pub agent: Option<String>,
}

/// `request_callback.lua`.
#[derive(Deserialize)]
pub struct RequestReply {
    /// The new ref is in use: try another.
    #[serde(default)]
    pub taken: bool,
    /// False: the cardholder's open request at that desk came back.
    #[serde(default)]
    pub created: bool,
    /// The request.
    #[serde(default)]
    pub request: Fields,
}

/// `rate.lua`, `note.lua`.
#[derive(Deserialize)]
pub struct OutcomeReply {
    /// What the script did (each script names its outcomes).
    pub outcome: String,
    /// The conversation after the step.
    #[serde(default)]
    pub conversation: Fields,
}

/// `claim_callback.lua`, `complete_callback.lua`.
#[derive(Deserialize)]
pub struct DeskReply {
    /// `won`/`done`, `taken`/`not_yours`, or `unknown`.
    pub outcome: String,
    /// The request after the step.
    #[serde(default)]
    pub request: Fields,
}

/// The cardholder of a decoded user id, for replies that carry one.
pub fn user(encoded: &str) -> UserId {
    keys::decode(encoded)
}

/// Decodes a script's JSON list reply (`{}` when empty).
pub fn decode_list<T: for<'de> Deserialize<'de>>(reply: &str, what: &str) -> StoreResult<Vec<T>> {
    let mut d = serde_json::Deserializer::from_str(reply);
    lua_list(&mut d).map_err(|e| corrupt(&format!("{what}: {e}")))
}

impl Fields {
    /// A hash from a `HGETALL` reply read directly.
    pub fn from_flat(flat: Vec<String>) -> Fields {
        let mut fields = HashMap::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            fields.insert(k, v);
        }
        Fields(fields)
    }
}
