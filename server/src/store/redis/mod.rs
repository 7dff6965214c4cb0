//! The Redis engine: routing state shared by every hub node on one Redis.
//!
//! Each [`Store`] call is one Lua script (`store/lua/*.lua`, all sharing
//! `prelude.lua`), so a decision such as "this conversation goes to that
//! agent" is made and written in one atomic step however many nodes route at
//! once. Keys live under a configurable prefix (`<prefix>:conv:<id>`,
//! `<prefix>:q:<tier>`, `<prefix>:agent:<sub>`, …, see ARCHITECTURE.md).

mod batch;
pub mod handover;
mod keys;
mod library;
mod notifications;
mod primary;
mod replication;
mod replies;
mod subscription;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;

use self::batch::Batcher;
use self::library::{Function, Library};
use self::replication::{LinkCell, Links, Replication};
use self::replies::{
    decode, AgentReply, AppendReply, DeskReply, EndReply, EscalateReply, Fields, GraceItem,
    HeartbeatReply, OkReply, OpenReply, OutcomeReply, PlaceReply, RequestReply, RouteItem,
    SnapshotReply, StatsItem, StoredEntry,
};
use super::inbox::{inbox_rank, MessageSla, MAX_OPEN_THREADS};
use super::order::{queue_score, AvailabilityScores, QueueRanks};
use super::{
    after_outcome, average_wait, desk_rank, idempotency_key, new_callback_ref, transcript_charge,
    AgentOverview, AgentProfile, AgentSnapshot, Appended, Assignment, Beat, DeskOverview,
    GraceOutcome, NewCallback, NewConversation, NewEntry, Opened, Overview, QueueOverview,
    QueuePlace, QueueSnapshot, QueueStanding, Side, Store, StoreError, StoreResult, Sweep,
    TranscriptBounds, AUDIT_KEPT, DONE_WINDOW_MS, MAX_NOTES, MAX_TRANSCRIPT_PAGE, RECENT_WAITS,
    ROUTE_BATCH,
};
use crate::domain::audit::AuditEntry;
use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::{Conversation, Entry, Note, Rating};
use crate::domain::queue::QueueView;
use crate::domain::CallbackOutcome;
use crate::domain::{
    rfc3339, AgentState, Author, CallbackRef, CallbackStatus, ConversationId, ConversationStatus,
    Desk, EndReason, Millis, Seq, Team, Tier, UserId,
};
use crate::events::{Audience, Envelope, Event};
use crate::store::feed::{EventFeed, EventStream};

impl From<::redis::RedisError> for StoreError {
    fn from(e: ::redis::RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Most grace expiries applied in one step.
const GRACE_BATCH: usize = 100;

/// How long one Redis call may take before the hub answers `unavailable`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// `append.lua`'s four redaction arguments, JSON arrays in seq order: the
/// entries' seqs, the texts they must still hold, their new stored JSON,
/// and the `redact` events that announce them (all `''` when there is none).
fn redaction_args(id: &ConversationId, redact: &[super::Redaction]) -> StoreResult<[String; 4]> {
    if redact.is_empty() {
        return Ok(Default::default());
    }
    let seqs: Vec<Seq> = redact.iter().map(|r| r.seq).collect();
    let was: Vec<&str> = redact.iter().map(|r| r.was.as_str()).collect();
    let entries = redact
        .iter()
        .map(|r| StoredEntry::of(&r.entry))
        .collect::<StoreResult<Vec<String>>>()?;
    let events = redact
        .iter()
        .map(|r| {
            replies::encode_json(
                &Event::Redact {
                    conversation: id.clone(),
                    seq: r.seq,
                    text: r.entry.text.clone(),
                },
                "a redact event",
            )
        })
        .collect::<StoreResult<Vec<String>>>()?;
    let json =
        |v: serde_json::Result<String>| v.map_err(|_| replies::corrupt("encoding a redaction"));
    Ok([
        json(serde_json::to_string(&seqs))?,
        json(serde_json::to_string(&was))?,
        json(serde_json::to_string(&entries))?,
        json(serde_json::to_string(&events))?,
    ])
}

/// Declares the store's steps (`lua/<name>.lua` each) and the library
/// that holds them ([`Library`]); the steps listed `within` are only run by
/// other steps (`append`, by `append_batch`), so the store has no handle on
/// them.
macro_rules! steps {
    (within: [$($inner:ident),*], $($name:ident),* $(,)?) => {
        /// The store's steps, each a function of one library.
        #[derive(Debug)]
        struct Scripts {
            library: Arc<Library>,
            $($name: Function,)*
        }

        impl Scripts {
            fn load() -> Self {
                // The payloads the scripts announce (`wire::script_payloads`)
                // come first: the prelude's helpers read them.
                let prelude = format!("{}{}", wire::script_payloads(), include_str!("lua/prelude.lua"));
                let library = Library::new(
                    &prelude,
                    &[
                        $((stringify!($inner), include_str!(concat!("lua/", stringify!($inner), ".lua"))),)*
                        $((stringify!($name), include_str!(concat!("lua/", stringify!($name), ".lua"))),)*
                    ],
                );
                Scripts {
                    $($name: library.function(stringify!($name)),)*
                    library: Arc::new(library),
                }
            }
        }
    };
}

steps!(
    within: [append],
    open,
    append_batch,
    recent,
    release,
    end,
    escalate,
    transfer,
    rate,
    note,
    register_agent,
    set_state,
    route,
    queue_snapshot,
    queue_place,
    queue_stats,
    overview,
    monitor,
    presence,
    expire_graces,
    heartbeat,
    request_callback,
    list_callbacks,
    claim_callback,
    complete_callback,
    handover_take,
    handed_over,
    notify_take,
    notify_settle,
    agents_online,
    inbox_open,
    inbox_list,
    inbox_claim,
    inbox_resolve,
    inbox_read,
);

/// The Redis engine; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    /// Multiplexed connection that reconnects by itself, to the primary;
    /// replaced when a Sentinel failover names another one.
    conn: Arc<LinkCell>,
    /// Where the primary is (asked again by the event subscription before
    /// each connect, and every second under Sentinel).
    primary: Arc<primary::Primary>,
    /// Key prefix, so that several hubs (or tests) can share one Redis.
    prefix: Arc<str>,
    /// This node's id, for presence bookkeeping.
    node: Arc<str>,
    /// The compiled scripts.
    scripts: Arc<Scripts>,
    /// Appends go to Redis in batches (`batch`).
    appends: Batcher,
    /// Tiebreak for queue scores within one millisecond.
    tiebreak: Arc<AtomicU64>,
    /// How long an ended conversation or a closed callback request stays
    /// (`--hot-retention`, ms): the scripts that end or close set it as the
    /// keys' expiry, or the archivers do once it is archived.
    retention: Millis,
    /// Whether ended conversations and closed requests go to the archive
    /// stream (`--archive-url`) instead of expiring at once.
    archive: bool,
    /// With `--redis-wait-replicas`: appends are acknowledged once
    /// replicas hold them.
    replication: Option<Replication>,
    /// Whether agents' entries to absent cardholders queue notifications
    /// (`--notify-url`).
    notifying: Option<super::Notifying>,
    /// The reply targets that order the inboxes (`--message-sla`).
    sla: MessageSla,
    /// How much one conversation may hold (`--max-transcript-entries`,
    /// `--max-transcript-bytes`), passed to `append.lua`.
    bounds: TranscriptBounds,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Builds a script's argument list from displayable values.
macro_rules! argv {
    ($($a:expr),* $(,)?) => { vec![$($a.to_string()),*] };
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://…`, or
    /// `redis+sentinel://host:port,…/NAME` to follow the primary the
    /// Sentinels name); keys go under `prefix`, presence under `node`; ended
    /// conversations and closed callback requests expire `retention` ms
    /// after they end or close.
    pub async fn connect(
        url: &str,
        prefix: &str,
        node: &str,
        retention: Millis,
    ) -> StoreResult<Self> {
        let primary = Arc::new(primary::Primary::parse(url)?);
        let at = primary.resolve().await?;
        let conn = Arc::new(LinkCell::from_pointee(Links {
            main: manager_for(&at).await?,
            barrier: None,
        }));
        if matches!(*primary, primary::Primary::Sentinel { .. }) {
            tokio::spawn(follow_failovers(primary.clone(), Arc::downgrade(&conn), at));
        }
        let scripts = Arc::new(Scripts::load());
        let prefix: Arc<str> = prefix.into();
        let appends = Batcher::start(
            Arc::downgrade(&conn),
            scripts.library.clone(),
            scripts.append_batch.clone(),
            prefix.clone(),
        );
        Ok(RedisStore {
            conn,
            primary,
            prefix,
            node: node.into(),
            scripts,
            appends,
            tiebreak: Arc::new(AtomicU64::new(0)),
            retention: retention.max(1),
            archive: false,
            replication: None,
            notifying: None,
            sla: MessageSla::default(),
            bounds: TranscriptBounds::default(),
        })
    }

    /// This engine, acknowledging an appended entry (announcing it) only once
    /// `replicas` Redis replicas hold it (`--redis-wait-replicas`; see
    /// `store::redis::replication`).
    pub async fn waiting_for_replicas(
        mut self,
        replicas: u32,
        metrics: &Arc<crate::metrics::Metrics>,
    ) -> StoreResult<Self> {
        let at = self.primary.resolve().await?;
        let barrier = manager_for(&at).await?;
        let main = self.conn.load().main.clone();
        self.conn.store(Arc::new(Links {
            main,
            barrier: Some(barrier),
        }));
        self.replication = Some(Replication::start(
            replicas,
            Arc::downgrade(&self.conn),
            self.prefix.clone(),
            self.scripts.library.clone(),
            self.scripts.release.clone(),
            metrics.clone(),
        ));
        Ok(self)
    }

    /// This engine, handing every ended conversation and closed callback
    /// request to the archive stream (`<prefix>:archive`) instead of setting
    /// their expiry: the archivers expire them once archived.
    pub fn archiving(mut self) -> Self {
        self.archive = true;
        self
    }

    /// This engine, queueing a notification when an agent writes to a
    /// cardholder connected nowhere (see [`super::notifications`]).
    pub fn notifying(mut self, notifying: super::Notifying) -> Self {
        self.notifying = Some(notifying);
        self
    }

    /// This engine, ordering the inboxes by these reply targets.
    pub fn with_message_sla(mut self, sla: MessageSla) -> Self {
        self.sla = sla;
        self
    }

    /// This engine, holding at most `bounds` per conversation instead of
    /// the defaults (`--max-transcript-entries`, `--max-transcript-bytes`).
    pub fn bounding(mut self, bounds: TranscriptBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// `append.lua`'s arguments from its time on; `ranks`: with the inbox
    /// ranks a cardholder's message needs only when it reopens a resolved
    /// thread (the step asks for them: `AppendReply::wants_ranks`).
    fn append_args(
        &self,
        id: &ConversationId,
        new: &NewEntry,
        at: &str,
        ranks: bool,
    ) -> StoreResult<Vec<String>> {
        let json = StoredEntry::encode(new.author, &new.text, at, new.client_id.as_deref())?;
        let sender = new.sender.as_ref().map(keys::encode).unwrap_or_default();
        let key = new
            .client_id
            .as_deref()
            .map(|k| idempotency_key(new.author, k))
            .unwrap_or_default();
        let [redact_seqs, redact_was, redact_entries, redact_events] =
            redaction_args(id, &new.redact)?;
        let [notify_event, notify_id, notify_pending] = self.notify_args(new.author);
        // Built by hand, not with `argv!`: the entry's JSON and the keys
        // move in rather than being copied once more per message.
        let mut args = vec![
            new.now.to_string(),
            id.to_string(),
            new.author.to_string(),
            sender_field(new.author).to_string(),
            sender,
            key,
            json,
            redact_seqs,
            redact_was,
            redact_entries,
            redact_events,
            if self.replication.is_some() { "1" } else { "" }.to_owned(),
            notify_event,
            notify_id,
            notify_pending,
            transcript_charge(new)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            self.bounds.entries.to_string(),
            self.bounds.bytes.to_string(),
        ];
        if ranks {
            args.extend(self.inbox_ranks(new.now));
        }
        Ok(args)
    }

    /// The inbox rank of a thread entering an inbox now, for each card tier
    /// (`to_inbox` in `prelude.lua` picks the thread's own).
    fn inbox_ranks(&self, now: Millis) -> Vec<String> {
        Tier::ALL
            .iter()
            .flat_map(|&t| [t.to_string(), inbox_rank(&self.sla, t, now).to_string()])
            .collect()
    }

    /// Conversations listed by `inbox_list.lua`.
    async fn list_threads(&self, mode: &str, name: String) -> StoreResult<Vec<Conversation>> {
        let reply = self
            .run_read(
                &self.scripts.inbox_list,
                argv![mode, name, super::INBOX_PAGE],
            )
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "inbox")?;
        list.iter().map(replies::conversation).collect()
    }

    /// What the scripts that end or close do with the keys (`hand_over` in
    /// `prelude.lua`): `archive`, or expire after the retention in ms.
    fn hand_over(&self) -> String {
        if self.archive {
            "archive".to_owned()
        } else {
            self.retention.to_string()
        }
    }

    /// The connection to the primary now.
    fn conn(&self) -> ConnectionManager {
        self.conn.load().main.clone()
    }

    /// The pub/sub channel for events every node delivers.
    fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// This node's own pub/sub channel: the store scripts publish an event
    /// only to the nodes where its recipients are connected.
    fn node_channel(&self) -> String {
        format!("{}:events:{}", self.prefix, self.node)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = String::from(&*self.prefix);
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// Runs a script with the prefix and the time as ARGV[1..2], then
    /// `args`; the reply is the script's JSON document.
    async fn run(&self, step: &Function, now: Millis, args: Vec<String>) -> StoreResult<String> {
        self.call(step.invocation(&self.prefix, now), args).await
    }

    /// Runs a step that only reads: it is given no time.
    async fn run_read(&self, step: &Function, args: Vec<String>) -> StoreResult<String> {
        self.call(step.read_invocation(&self.prefix), args).await
    }

    async fn call(&self, mut invocation: redis::Cmd, args: Vec<String>) -> StoreResult<String> {
        for a in args {
            invocation.arg(a);
        }
        let mut conn = self.conn();
        Ok(self.scripts.library.query(&mut conn, &invocation).await?)
    }

    /// Whether a node with this id has sent a heartbeat recently: two live
    /// processes must not share a node id.
    pub async fn node_alive(&self, now: Millis, stale_ms: Millis) -> StoreResult<bool> {
        let mut conn = self.conn();
        let last: Option<f64> = redis::cmd("ZSCORE")
            .arg(self.key(&["nodes"]))
            .arg(&*self.node)
            .query_async(&mut conn)
            .await?;
        Ok(last.is_some_and(|t| t as Millis > now - stale_ms))
    }

    /// Marks this node's previous incarnation dead (call once at start-up
    /// when the node id is fixed by configuration).
    pub async fn reset_node(&self, now: Millis, sweep: &Sweep) -> StoreResult<Beat> {
        self.heartbeat_inner(now, sweep, true).await
    }

    async fn heartbeat_inner(&self, now: Millis, sweep: &Sweep, reset: bool) -> StoreResult<Beat> {
        // A fresh candidate each time: after a wipe, whichever node beats
        // first sets an epoch no node has seen.
        let candidate = uuid::Uuid::new_v4().simple().to_string();
        let notice = StoredEntry::encode(Author::System, &sweep.notice, &rfc3339(now), None)?;
        let reply = self
            .run(
                &self.scripts.heartbeat,
                now,
                argv![
                    &*self.node,
                    sweep.stale_ms,
                    sweep.graces.cardholder_ms,
                    sweep.graces.agent_ms,
                    if reset { "1" } else { "0" },
                    candidate,
                    notice
                ],
            )
            .await?;
        let r: HeartbeatReply = decode(&reply, "heartbeat")?;
        Ok(Beat {
            epoch: r.epoch,
            told: r.told.into_iter().map(ConversationId).collect(),
            revived: r.revived,
        })
    }

    async fn fetch_callback(
        &self,
        reference: &CallbackRef,
    ) -> StoreResult<Option<CallbackRequest>> {
        let mut conn = self.conn();
        let flat: Vec<String> = redis::cmd("HGETALL")
            .arg(self.key(&["cb", reference.as_str()]))
            .query_async(&mut conn)
            .await?;
        let fields = Fields::from_flat(flat);
        if fields.is_empty() {
            return Ok(None);
        }
        replies::callback(&fields).map(Some)
    }
}

/// A connection manager for the Redis at `at`.
async fn manager_for(at: &redis::ConnectionInfo) -> StoreResult<ConnectionManager> {
    let client = redis::Client::open(at.clone())?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(2);
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// How often the Sentinels are asked where the primary is.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Under Sentinel: asks every [`FOLLOW_EVERY`] where the primary is and,
/// after a failover, moves the store's connection there (the event
/// subscription, cut when the old primary went, resolves it by itself).
/// Ends when the store is dropped.
async fn follow_failovers(
    primary: Arc<primary::Primary>,
    cell: std::sync::Weak<LinkCell>,
    mut current: redis::ConnectionInfo,
) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if cell.strong_count() == 0 {
            return;
        }
        let Ok(at) = primary.resolve().await else {
            continue;
        };
        if at.addr() == current.addr() {
            continue;
        }
        let Some(waits) = cell.upgrade().map(|c| c.load().barrier.is_some()) else {
            return;
        };
        let links = async {
            Ok::<_, StoreError>(Links {
                main: manager_for(&at).await?,
                barrier: match waits {
                    true => Some(manager_for(&at).await?),
                    false => None,
                },
            })
        };
        match links.await {
            Ok(links) => {
                let Some(cell) = cell.upgrade() else { return };
                cell.store(Arc::new(links));
                tracing::warn!(primary = %at.addr(), "the Sentinels name a new Redis primary; now using it");
                current = at;
            }
            Err(e) => {
                tracing::warn!(primary = %at.addr(), error = %e.detail(), "cannot reach the new Redis primary yet");
            }
        }
    }
}

/// A supervisor's teams as the scripts' `in_teams` reads them: a ',' on
/// each side of every name (`,standard,identity,`), so that a name is found
/// whole and never as part of another.
fn team_list(teams: &[Team]) -> String {
    let mut list = String::from(",");
    for t in teams {
        list.push_str(t.as_str());
        list.push(',');
    }
    list
}

fn presence_member(side: Side, user: &UserId) -> String {
    keys::member(&match side {
        Side::Cardholder => Audience::Cardholder(user.clone()),
        Side::Agent => Audience::Agent(user.clone()),
        Side::Supervisor => Audience::Supervisor(user.clone()),
    })
}

/// Reads one pub/sub message of hub events as a node's subscriber does
/// (its envelopes in order; see `wire`): for benchmarks and tools.
pub fn read_published(payload: &[u8]) -> Vec<Envelope> {
    wire::decode_message(payload)
}

/// An envelope framed as the hub publishes it (see `wire`): for tests and
/// tools that publish events themselves.
pub fn framed(envelope: &Envelope) -> Option<String> {
    wire::encode(envelope)
}

/// The conversation field a sender must match to write as `author`.
fn sender_field(author: Author) -> &'static str {
    match author {
        Author::Cardholder => "cardholder",
        Author::Agent => "agent",
        Author::System => "",
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn open_conversation(&self, new: NewConversation) -> StoreResult<Opened> {
        let id = ConversationId::generate();
        let ranks = QueueRanks::new(
            queue_score(new.now, self.tiebreak.fetch_add(1, Ordering::Relaxed)),
            &new.boosts,
        );
        let reply = self
            .run(
                &self.scripts.open,
                new.now,
                argv![
                    keys::encode(&new.cardholder),
                    new.name.as_deref().unwrap_or(""),
                    new.tier,
                    new.topic,
                    if new.enqueue { "1" } else { "0" },
                    id,
                    new.phone_last4.as_deref().unwrap_or(""),
                    ranks.waiting(new.tier),
                    ranks.to_json(),
                    replies::encode_history(&new.history)?
                ],
            )
            .await?;
        let r: OpenReply = decode(&reply, "open")?;
        Ok(Opened {
            conversation: replies::conversation(&r.conversation)?,
            created: r.created,
        })
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn();
        let flat: Vec<String> = redis::cmd("HGETALL")
            .arg(self.key(&["conv", id.as_str()]))
            .query_async(&mut conn)
            .await?;
        let fields = Fields::from_flat(flat);
        if fields.is_empty() {
            return Ok(None);
        }
        replies::conversation(&fields).map(Some)
    }

    async fn open_conversation_of(&self, cardholder: &UserId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn();
        let id: Option<String> = redis::cmd("GET")
            .arg(self.key(&["open", &keys::encode(cardholder)]))
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
        let reply = self
            .appends
            .append(new.now, self.append_args(id, &new, &at, false)?)
            .await?;
        let mut r: AppendReply = decode(&reply, "append")?;
        if r.wants_ranks {
            // A cardholder's message to a resolved thread: again, with the
            // inbox ranks that reopening it needs.
            let args = self.append_args(id, &new, &at, true)?;
            r = decode(&self.appends.append(new.now, args).await?, "append")?;
        }
        if r.full {
            return Err(StoreError::TranscriptFull);
        }
        if r.conflict {
            return Err(StoreError::Conflict);
        }
        if !r.ok {
            return Err(StoreError::NoConversation);
        }
        if let Some(replication) = &self.replication {
            // A resend (duplicate) waits too: its first try may have been
            // answered `unavailable` before the replicas held it.
            replication.release(id.as_str(), r.seq, new.now).await?;
        }
        let entry = if r.duplicate {
            replies::entry(r.seq, &r.entry)?
        } else {
            Entry {
                seq: r.seq,
                from: new.author,
                text: new.text,
                at,
                id: new.client_id,
            }
        };
        Ok(Appended {
            entry,
            duplicate: r.duplicate,
            cardholder: replies::user(&r.cardholder),
            agent: r.agent.as_deref().map(replies::user),
            status: r
                .status
                .parse()
                .map_err(|_| replies::corrupt("append status"))?,
            first_from_author: r.first,
            notified: r.notified,
            reopened: r.reopened,
        })
    }

    async fn recent_entries(
        &self,
        id: &ConversationId,
        author: Author,
        since: Millis,
    ) -> StoreResult<Vec<Entry>> {
        let reply = self
            .run_read(&self.scripts.recent, argv![id, super::RECENT_TAIL])
            .await?;
        let tail: replies::TailReply = decode(&reply, "recent")?;
        let entries = replies::entries_from(tail.first, &tail.entries)?;
        Ok(super::recent_of(&entries, author, since))
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
        let mut conn = self.conn();
        let start = i64::try_from(after).unwrap_or(i64::MAX);
        let mut stop = start
            .saturating_add(i64::try_from(limit).unwrap_or(i64::MAX))
            .saturating_sub(1);
        if self.replication.is_some() {
            // Entries held for the replicas are not shown yet: a replay must
            // not show what the sender has not been acknowledged.
            let published: Option<i64> = redis::cmd("HGET")
                .arg(self.key(&["conv", id.as_str()]))
                .arg("published")
                .query_async(&mut conn)
                .await?;
            if let Some(p) = published {
                stop = stop.min(p - 1);
            }
        }
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(self.key(&["tx", id.as_str()]))
            .arg(start)
            .arg(stop)
            .query_async(&mut conn)
            .await?;
        replies::entries_from(after + 1, &raw)
    }

    async fn end(
        &self,
        id: &ConversationId,
        by_agent: Option<&UserId>,
        reason: EndReason,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let by = by_agent.map(keys::encode).unwrap_or_default();
        let reply = self
            .run(
                &self.scripts.end,
                now,
                argv![id, by, reason, self.hand_over()],
            )
            .await?;
        let r: EndReply = decode(&reply, "end")?;
        match (r.found, r.ended) {
            (false, _) => Err(StoreError::NoConversation),
            (true, false) => Ok(None),
            (true, true) => replies::conversation(&r.conversation).map(Some),
        }
    }

    async fn transfer(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let reply = self
            .run(
                &self.scripts.transfer,
                now,
                [
                    argv![
                        id,
                        keys::encode(agent),
                        tier,
                        EndReason::Transferred,
                        note.unwrap_or_default()
                    ],
                    self.inbox_ranks(now),
                ]
                .concat(),
            )
            .await?;
        done_or_missing(decode(&reply, "transfer")?)
    }

    async fn rate(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        rating: Rating,
    ) -> StoreResult<Conversation> {
        let json = replies::encode_json(&rating, "rating")?;
        let reply = self
            .run(
                &self.scripts.rate,
                rating.at,
                argv![id, keys::encode(cardholder), json, self.hand_over()],
            )
            .await?;
        let r: OutcomeReply = decode(&reply, "rate")?;
        match r.outcome.as_str() {
            "rated" => replies::conversation(&r.conversation),
            "not_allowed" => Err(StoreError::NotAllowed),
            _ => Err(StoreError::NoConversation),
        }
    }

    async fn add_note(&self, id: &ConversationId, note: Note) -> StoreResult<Conversation> {
        let json = replies::encode_json(&note, "note")?;
        let by = keys::encode(&note.by);
        let at = note.at;
        let event = replies::encode_json(
            &Event::Note {
                conversation: id.clone(),
                note,
            },
            "a note event",
        )?;
        let reply = self
            .run(
                &self.scripts.note,
                at,
                argv![id, by, json, MAX_NOTES, event],
            )
            .await?;
        let r: OutcomeReply = decode(&reply, "note")?;
        match r.outcome.as_str() {
            "noted" => replies::conversation(&r.conversation),
            "full" => Err(StoreError::NotAllowed),
            _ => Err(StoreError::NoConversation),
        }
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
                now,
                argv![
                    keys::encode(&profile.sub),
                    profile.name,
                    teams,
                    profile.max_chats,
                    AvailabilityScores::at(now).to_field()
                ],
            )
            .await?;
        let r: AgentReply = decode(&reply, "register agent")?;
        Ok(AgentSnapshot {
            state: r
                .state
                .parse()
                .map_err(|_| replies::corrupt("agent state"))?,
            active: r
                .conversations
                .iter()
                .map(replies::conversation)
                .collect::<StoreResult<_>>()?,
            presence: r.presence,
        })
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
                now,
                argv![
                    keys::encode(agent),
                    state,
                    AvailabilityScores::at(now).to_field()
                ],
            )
            .await?;
        let r: OkReply = decode(&reply, "set state")?;
        if !r.ok {
            return Err(StoreError::NotAllowed);
        }
        Ok(())
    }

    async fn route(&self, now: Millis) -> StoreResult<Vec<Assignment>> {
        let mut args = argv![
            ROUTE_BATCH,
            RECENT_WAITS,
            MAX_TRANSCRIPT_PAGE,
            AvailabilityScores::at(now).to_field()
        ];
        for &tier in Tier::ALL {
            args.push(tier.to_string());
        }
        let reply = self.run(&self.scripts.route, now, args).await?;
        let items: Vec<RouteItem> = replies::decode_list(&reply, "route")?;
        items
            .iter()
            .map(|i| {
                Ok(Assignment {
                    conversation: replies::conversation(&i.conversation)?,
                    waited_ms: i.waited_ms,
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
            .run_read(&self.scripts.queue_place, argv![tier, id])
            .await?;
        let r: PlaceReply = decode(&reply, "queue place")?;
        if r.position == 0 {
            return Ok(None);
        }
        Ok(Some(QueueStanding {
            position: r.position,
            depth: r.depth,
            recent_wait_ms: average_wait(&replies::waits(&r.waits)),
        }))
    }

    async fn queue_snapshot(&self, tier: Tier) -> StoreResult<QueueSnapshot> {
        let reply = self
            .run_read(&self.scripts.queue_snapshot, argv![tier])
            .await?;
        let r: SnapshotReply = decode(&reply, "queue snapshot")?;
        Ok(QueueSnapshot {
            places: r
                .places
                .iter()
                .enumerate()
                .map(|(i, p)| QueuePlace {
                    conversation: ConversationId(p.conversation.clone()),
                    cardholder: replies::user(&p.cardholder),
                    position: i as u64 + 1,
                    queued_at: p.queued_at,
                })
                .collect(),
            recent_wait_ms: average_wait(&replies::waits(&r.waits)),
        })
    }

    async fn agents_online(&self, team: Team) -> StoreResult<u64> {
        let reply = self
            .run_read(&self.scripts.agents_online, argv![team.as_str()])
            .await?;
        decode(&reply, "agents online")
    }

    async fn queue_stats(&self, now: Millis) -> StoreResult<Vec<QueueView>> {
        let tiers = Tier::ALL.iter().map(ToString::to_string).collect();
        let reply = self.run(&self.scripts.queue_stats, now, tiers).await?;
        let rows: Vec<StatsItem> = replies::decode_list(&reply, "queue stats")?;
        rows.iter()
            .map(|row| {
                let oldest_wait_s = row
                    .since
                    .parse::<Millis>()
                    .map_or(0, |t| u64::try_from((now - t).max(0) / 1000).unwrap_or(0));
                Ok(QueueView {
                    tier: row
                        .tier
                        .parse()
                        .map_err(|_| replies::corrupt("queue stats tier"))?,
                    waiting: row.depth,
                    oldest_wait_s,
                })
            })
            .collect()
    }

    async fn overview(&self, teams: &[Team]) -> StoreResult<Overview> {
        let names = |pick: fn(&Team) -> bool| {
            teams
                .iter()
                .filter(|t| pick(t))
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let tiers = names(|t| t.tier().is_some());
        let desks = names(|t| t.tier().is_none());
        let all = names(|_| true);
        let reply = self
            .run_read(&self.scripts.overview, argv![tiers, desks, all])
            .await?;
        let r: replies::OverviewReply = replies::decode(&reply, "overview")?;
        let bad = |what: &str| replies::corrupt(&format!("overview {what}"));
        let queues = r
            .queues
            .into_iter()
            .map(|q| {
                Ok(QueueOverview {
                    tier: q.tier.parse().map_err(|_| bad("tier"))?,
                    depth: q.depth,
                    oldest_queued_at: q.since.parse().ok(),
                    recent_waits: replies::waits(&q.waits),
                })
            })
            .collect::<StoreResult<_>>()?;
        let mut agents = r
            .agents
            .into_iter()
            .map(|a| {
                Ok(AgentOverview {
                    sub: replies::user(&a.sub),
                    name: a.name,
                    state: a.state.parse().map_err(|_| bad("agent state"))?,
                    online: a.online,
                    conversations: a.conversations.into_iter().map(ConversationId).collect(),
                    max_chats: u8::try_from(a.max_chats.0).unwrap_or(u8::MAX),
                    teams: a.teams.split(',').filter_map(|t| t.parse().ok()).collect(),
                    state_since: a.since.0,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        agents.sort_by(|a, b| a.sub.cmp(&b.sub));
        let desks = r
            .desks
            .into_iter()
            .map(|d| {
                Ok(DeskOverview {
                    desk: d.desk.parse().map_err(|_| bad("desk"))?,
                    open: d.open,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(Overview {
            queues,
            agents,
            desks,
            inboxes: Vec::new(),
        })
    }

    async fn monitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        teams: &[Team],
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        // The monitor keeps the supervisor's teams with it, so that the
        // step that moves the chat (`transfer.lua`, `escalate.lua`, given
        // the team it moves to) drops, in that same step, the monitors
        // whose teams do not include it: the script only checks membership.
        let reply = self
            .run(
                &self.scripts.monitor,
                now,
                argv![
                    id,
                    presence_member(Side::Supervisor, supervisor),
                    "1",
                    team_list(teams)
                ],
            )
            .await?;
        let r: replies::MonitorReply = decode(&reply, "monitor")?;
        if r.outside {
            return Err(StoreError::NotAllowed);
        }
        if !r.ok {
            return Ok(None);
        }
        replies::conversation(&r.conversation).map(Some)
    }

    async fn unmonitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        now: Millis,
    ) -> StoreResult<()> {
        let reply = self
            .run(
                &self.scripts.monitor,
                now,
                argv![id, presence_member(Side::Supervisor, supervisor), "0", ""],
            )
            .await?;
        decode::<replies::MonitorReply>(&reply, "unmonitor")?;
        Ok(())
    }

    async fn audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let json = serde_json::to_string(&entry)
            .map_err(|e| StoreError::Unavailable(format!("audit entry: {e}")))?;
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic();
        // One list per team the entry is about: a busy team's actions never
        // push a quiet team's out of its console.
        for team in &entry.teams {
            let key = self.key(&["audit", team.as_str()]);
            pipe.lpush(&key, &json)
                .ltrim(&key, 0, AUDIT_KEPT as isize - 1);
        }
        if self.archive {
            // The archivers store it in the archive like any other record.
            pipe.cmd("XADD")
                .arg(self.key(&["archive"]))
                .arg("*")
                .arg("kind")
                .arg("audit")
                .arg("id")
                .arg("")
                .arg("entry")
                .arg(&json);
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn recent_audit(&self, teams: &[Team], limit: usize) -> StoreResult<Vec<AuditEntry>> {
        if teams.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for team in teams {
            pipe.cmd("LRANGE")
                .arg(self.key(&["audit", team.as_str()]))
                .arg(0)
                .arg(limit - 1);
        }
        let lists: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
        let lists = lists
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|r| replies::decode(r, "audit entry"))
                    .collect::<StoreResult<Vec<AuditEntry>>>()
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(crate::store::merge_audit(lists, limit))
    }

    async fn presence_up(&self, user: &UserId, side: Side, now: Millis) -> StoreResult<()> {
        self.run(
            &self.scripts.presence,
            now,
            argv![&*self.node, presence_member(side, user), 1, 0],
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
            now,
            argv![
                &*self.node,
                presence_member(side, user),
                -1,
                (now + grace_ms)
            ],
        )
        .await?;
        Ok(())
    }

    async fn expire_graces(&self, now: Millis) -> StoreResult<Vec<GraceOutcome>> {
        let reply = self
            .run(
                &self.scripts.expire_graces,
                now,
                argv![
                    GRACE_BATCH,
                    EndReason::Abandoned,
                    EndReason::Transferred,
                    self.hand_over()
                ],
            )
            .await?;
        let items: Vec<GraceItem> = replies::decode_list(&reply, "expire graces")?;
        items
            .iter()
            .map(
                |item| match (&item.abandoned, &item.requeued, &item.agent) {
                    (Some(c), _, _) => Ok(GraceOutcome::Abandoned(replies::conversation(c)?)),
                    (None, Some(c), Some(agent)) => Ok(GraceOutcome::Requeued {
                        conversation: replies::conversation(c)?,
                        agent: replies::user(agent),
                    }),
                    _ => Err(replies::corrupt("grace outcome")),
                },
            )
            .collect()
    }

    async fn heartbeat(&self, now: Millis, sweep: &Sweep) -> StoreResult<Beat> {
        self.heartbeat_inner(now, sweep, false).await
    }

    async fn retire(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        redis::pipe()
            .cmd("ZREM")
            .arg(self.key(&["nodes"]))
            .arg(&*self.node)
            .ignore()
            .cmd("UNLINK")
            .arg(self.key(&["presence", &self.node]))
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
                    new.now,
                    argv![
                        new.desk,
                        keys::encode(&new.sub),
                        new.tier,
                        new.cause.describe(new.desk),
                        new.conversation,
                        new.phone_last4.as_deref().unwrap_or(""),
                        reference,
                        desk_rank(new.tier, new.now),
                        new.name.as_deref().unwrap_or(""),
                        replies::encode_json(&new.cause, "cause")?
                    ],
                )
                .await?;
            let r: RequestReply = decode(&reply, "request callback")?;
            if !r.taken {
                return Ok((replies::callback(&r.request)?, r.created));
            }
        }
    }

    async fn callbacks(&self, desk: Desk) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(&self.scripts.list_callbacks, argv!["desk", desk])
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "callbacks")?;
        list.iter().map(replies::callback).collect()
    }

    async fn callbacks_of(&self, sub: &UserId) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(
                &self.scripts.list_callbacks,
                argv!["sub", keys::encode(sub)],
            )
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "callbacks")?;
        let mut list = list
            .iter()
            .map(replies::callback)
            .collect::<StoreResult<Vec<_>>>()?;
        list.sort_by_key(super::desk_order);
        Ok(list)
    }

    async fn escalate(
        &self,
        id: &ConversationId,
        request: &CallbackRequest,
        message: String,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let entry = StoredEntry::encode(Author::System, &message, &rfc3339(now), None)?;
        let reply = self
            .run(
                &self.scripts.escalate,
                now,
                argv![
                    id,
                    request.reference,
                    entry,
                    EndReason::Escalated,
                    self.hand_over(),
                    request.desk
                ],
            )
            .await?;
        let r: EscalateReply = decode(&reply, "escalate")?;
        if !r.ended {
            return Ok(None);
        }
        replies::conversation(&r.conversation).map(Some)
    }

    async fn claim_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        desks: &[Desk],
        now: Millis,
    ) -> StoreResult<CallbackRequest> {
        let mut args = argv![reference, keys::encode(agent), CallbackStatus::Claimed];
        args.extend(desks.iter().map(ToString::to_string));
        let reply = self.run(&self.scripts.claim_callback, now, args).await?;
        desk_outcome(decode(&reply, "claim callback")?)
    }

    async fn complete_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        outcome: CallbackOutcome,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<CallbackRequest> {
        // Rust decides the outcome; the script writes it only if the request
        // is still this agent's and unchanged since it was read.
        let current = self
            .fetch_callback(reference)
            .await?
            .ok_or(StoreError::NoConversation)?;
        if current.claimed_by.as_ref() != Some(agent) {
            return Err(StoreError::NotAllowed);
        }
        let next = after_outcome(&current, outcome, agent, note, now);
        let reply = self
            .run(
                &self.scripts.complete_callback,
                now,
                argv![
                    reference,
                    keys::encode(agent),
                    current.attempts,
                    next.status,
                    next.attempts,
                    replies::encode_json(&next.history, "history")?,
                    if next.status.is_open() { "1" } else { "0" },
                    self.hand_over(),
                    DONE_WINDOW_MS
                ],
            )
            .await?;
        desk_outcome(decode(&reply, "complete callback")?)
    }

    async fn take_notifications(
        &self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> StoreResult<Vec<super::Notification>> {
        self.take_notices(now, batch, lease_ms).await
    }

    async fn settle_notification(
        &self,
        n: &super::Notification,
        how: super::Settle,
        now: Millis,
    ) -> StoreResult<bool> {
        self.settle_notice(n, how, now).await
    }

    async fn notification_backlog(&self) -> StoreResult<super::NotificationBacklog> {
        self.notice_backlog().await
    }

    async fn closed_by(&self, agent: &UserId, since: Millis) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(
                &self.scripts.list_callbacks,
                argv!["done", keys::encode(agent), since],
            )
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "closed callbacks")?;
        list.iter().map(replies::callback).collect()
    }

    async fn open_thread(&self, new: NewConversation, id: ConversationId) -> StoreResult<Opened> {
        let reply = self
            .run(
                &self.scripts.inbox_open,
                new.now,
                argv![
                    keys::encode(&new.cardholder),
                    new.name.as_deref().unwrap_or(""),
                    new.tier,
                    new.topic,
                    id,
                    new.phone_last4.as_deref().unwrap_or(""),
                    inbox_rank(&self.sla, new.tier, new.now),
                    replies::encode_history(&new.history)?,
                    MAX_OPEN_THREADS
                ],
            )
            .await?;
        let r: replies::ThreadOpenReply = decode(&reply, "open thread")?;
        if !r.ok {
            return Err(StoreError::NotAllowed);
        }
        Ok(Opened {
            conversation: replies::conversation(&r.conversation)?,
            created: r.created,
        })
    }

    async fn threads_of(&self, cardholder: &UserId) -> StoreResult<Vec<Conversation>> {
        let mut list = self.list_threads("of", keys::encode(cardholder)).await?;
        list.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(list)
    }

    async fn inbox_stats(&self) -> StoreResult<Vec<super::InboxOverview>> {
        let mut args = argv!["stats", "", super::INBOX_PAGE];
        args.extend(Tier::ALL.iter().map(ToString::to_string));
        let reply = self.run_read(&self.scripts.inbox_list, args).await?;
        let rows: Vec<StatsItem> = replies::decode_list(&reply, "inbox stats")?;
        rows.iter()
            .map(|row| {
                Ok(super::InboxOverview {
                    tier: row
                        .tier
                        .parse()
                        .map_err(|_| replies::corrupt("inbox stats tier"))?,
                    depth: row.depth,
                    oldest_queued_at: row.since.parse().ok(),
                })
            })
            .collect()
    }

    async fn inbox(&self, team: Tier) -> StoreResult<Vec<Conversation>> {
        self.list_threads("inbox", team.to_string()).await
    }

    async fn claim_thread(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tiers: &[Tier],
        now: Millis,
    ) -> StoreResult<Assignment> {
        let mut args = argv![id, keys::encode(agent), MAX_TRANSCRIPT_PAGE];
        args.extend(tiers.iter().map(ToString::to_string));
        let reply = self.run(&self.scripts.inbox_claim, now, args).await?;
        let r: replies::ClaimReply = decode(&reply, "claim thread")?;
        match r.outcome.as_str() {
            "won" => Ok(Assignment {
                conversation: replies::conversation(&r.conversation)?,
                waited_ms: r.waited_ms,
            }),
            "taken" => Err(StoreError::NotAllowed),
            _ => Err(StoreError::NoConversation),
        }
    }

    async fn resolve(
        &self,
        id: &ConversationId,
        agent: &UserId,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let reply = self
            .run(
                &self.scripts.inbox_resolve,
                now,
                argv![
                    id,
                    keys::encode(agent),
                    EndReason::Resolved,
                    self.hand_over()
                ],
            )
            .await?;
        done_or_missing(decode(&reply, "resolve")?)
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        seq: Seq,
        now: Millis,
    ) -> StoreResult<()> {
        let reply = self
            .run(
                &self.scripts.inbox_read,
                now,
                argv![id, keys::encode(cardholder), seq],
            )
            .await?;
        let r: OkReply = decode(&reply, "read")?;
        if !r.ok {
            return Err(StoreError::NoConversation);
        }
        Ok(())
    }
}

/// A step's conversation, or `NoConversation` when the script refused it.
fn done_or_missing(r: OkReply) -> StoreResult<Conversation> {
    if !r.ok {
        return Err(StoreError::NoConversation);
    }
    replies::conversation(&r.conversation)
}

/// A desk script's outcome: the request, `NotAllowed` (another agent's), or
/// `NoConversation` (no such open request on the agent's desks).
fn desk_outcome(r: DeskReply) -> StoreResult<CallbackRequest> {
    match r.outcome.as_str() {
        "won" | "done" => replies::callback(&r.request),
        "taken" | "not_yours" => Err(StoreError::NotAllowed),
        _ => Err(StoreError::NoConversation),
    }
}

#[async_trait]
impl EventFeed for RedisStore {
    async fn publish(&self, batch: &[Envelope]) -> StoreResult<()> {
        let channel = self.events_channel();
        let mut pipe = redis::pipe();
        for payload in batch.iter().filter_map(wire::encode) {
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
        }
        let mut conn = self.conn();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Read with backpressure (see [`subscription`]): the next event is
    /// read from Redis only when the bus asks for it.
    async fn subscribe(&self) -> StoreResult<EventStream> {
        let channels = [self.events_channel(), self.node_channel()];
        let at = self.primary.resolve().await?;
        let subscription = subscription::Subscription::open(&at, &channels).await?;
        let stream = futures_util::stream::unfold(subscription, |mut s| async move {
            let payload = s.next_message().await?;
            Some((payload, s))
        })
        .flat_map(|payload| futures_util::stream::iter(wire::decode_message(&payload)));
        Ok(Box::pin(stream))
    }
}
