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
    QueuePlace, QueueSnapshot, QueueStanding, Side, StoreError, StoreResult, Sweep,
    TranscriptBounds, AUDIT_KEPT, DONE_WINDOW_MS, MAX_NOTES, MAX_TRANSCRIPT_PAGE, RECENT_WAITS,
    ROUTE_BATCH,
};
use super::{Callbacks, Chats, Notifications, Presence, Supervision, Threads, Transcripts};
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

// The engine's areas, one file each.
mod callbacks;
mod chats;
mod notices;
mod presence;
mod supervision;
mod threads;
mod transcripts;
