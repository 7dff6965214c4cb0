//! The routing and transcript store: one trait, two engines.
//!
//! [`Store`] is every state change the hub makes, each one a single atomic
//! step: in [`redis::RedisStore`] a Lua script (so several hub nodes on one
//! Redis never race), in [`memory::MemoryStore`] one critical section (the
//! embedded single-node engine). No caller ever reads, decides in Rust, and
//! writes back. Both engines pass the same conformance suite
//! (`tests/src/conformance.rs`).

pub mod feed;
pub mod inbox;
pub mod memory;
pub mod notifications;
pub mod order;
pub mod redis;

use std::fmt::Debug;

use async_trait::async_trait;

use crate::domain::audit::AuditEntry;
use crate::domain::callback::{Attempt, CallbackRequest, Cause};
use crate::domain::conversation::{Conversation, Entry, Note, Rating};
use crate::domain::queue::QueueView;
use crate::domain::{
    AgentState, Author, CallbackRef, ConversationId, ConversationStatus, Desk, EndReason, Millis,
    Role, Seq, Team, Tier, TierBoosts, Topic, UserId,
};
use crate::domain::{CallbackOutcome, CallbackStatus};
use crate::events::Envelope;
pub use notifications::{Notification, NotificationBacklog, Notifying, Settle};

/// Most transcript entries an `assigned` event carries; an agent `sync`s
/// the rest (a chat that long is rare).
pub const MAX_TRANSCRIPT_PAGE: usize = 500;

/// How many recent waits per tier feed the queue ETA.
pub const RECENT_WAITS: usize = 20;

/// Most assignments one routing step makes before it yields to other work.
pub const ROUTE_BATCH: usize = 64;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot be reached or answered badly; retry later.
    #[error("the conversation store is unavailable")]
    Unavailable(String),
    /// The conversation does not exist, is over, or is not the caller's.
    #[error("no such open conversation")]
    NoConversation,
    /// The caller may not do this to the conversation (e.g. not its agent).
    #[error("not allowed")]
    NotAllowed,
    /// The conversation holds as many entries or bytes of typed text as it
    /// may ([`TranscriptBounds`]): the entry was not stored.
    #[error("the transcript is full")]
    TranscriptFull,
    /// An entry to redact no longer holds the text the hub read (another
    /// message of the author was stored meanwhile): nothing was done; read
    /// again and retry.
    #[error("an entry to redact changed meanwhile")]
    Conflict,
}

impl StoreError {
    /// What went wrong, for operators' logs (client messages stay generic).
    pub fn detail(&self) -> String {
        match self {
            StoreError::Unavailable(why) => why.clone(),
            other => other.to_string(),
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Lowest and highest rating score.
pub const RATING_SCORES: std::ops::RangeInclusive<u8> = 1..=5;

/// Most internal notes one conversation keeps.
pub const MAX_NOTES: usize = 50;

/// Most threads one `inbox` reply lists.
pub const INBOX_PAGE: usize = 100;

/// What a cardholder asks for when opening a conversation.
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// The cardholder.
    pub cardholder: UserId,
    /// Display name.
    pub name: Option<String>,
    /// Card tier (the queue it waits in).
    pub tier: Tier,
    /// Topic.
    pub topic: Topic,
    /// Whether it enters the tier queue (false for chats that escalate at once).
    pub enqueue: bool,
    /// Last four digits of the phone on file.
    pub phone_last4: Option<String>,
    /// The cardholder's last conversations (at most
    /// [`crate::archive::ASSIGNED_HISTORY`]), kept on the record for the agent.
    pub history: Vec<crate::domain::conversation::Summary>,
    /// The tier boosts now (`--tier-boost`): its place in every tier's queue
    /// is fixed when it opens ([`order::QueueRanks`]).
    pub boosts: TierBoosts,
    /// Now.
    pub now: Millis,
}

/// The result of opening: the open conversation, new or existing.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The conversation.
    pub conversation: Conversation,
    /// False when the cardholder already had it open (idempotent `start`).
    pub created: bool,
}

/// A transcript entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Who speaks.
    pub author: Author,
    /// The user id of the sender (None for system entries); checked against
    /// the conversation's cardholder or agent.
    pub sender: Option<UserId>,
    /// The text, already masked.
    pub text: String,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// Now.
    pub now: Millis,
    /// The author's earlier entries, masked anew because they hold a card
    /// number or SSN together with this one, in seq order: applied in the
    /// same step, announced (`redact`) before the new entry, and only if
    /// each still holds the text the hub read (else [`StoreError::Conflict`]
    /// and nothing is written). Not applied to a resend.
    pub redact: Vec<Redaction>,
}

/// An earlier entry's new, masked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The entry's seq.
    pub seq: Seq,
    /// The entry as it must read from now on.
    pub entry: Entry,
    /// The text it held when the hub read it: the store checks it still
    /// does before it writes anything.
    pub was: String,
}

/// How many of a conversation's last entries [`Store::recent_entries`]
/// looks at: enough for any card typed over messages with the other
/// party's replies between, and a bounded read whatever the transcript's size.
pub const RECENT_TAIL: usize = 40;

/// The rule of [`Store::recent_entries`], the same for both engines: from
/// `tail` (a conversation's last entries, oldest first), the entries of
/// `author` (others' are skipped) written at `since` or later, going back
/// from the newest until they hold [`crate::masking::SPLIT_DIGITS`] digits; oldest
/// first.
pub fn recent_of(tail: &[Entry], author: Author, since: Millis) -> Vec<Entry> {
    let mut recent = Vec::new();
    let mut digits = 0;
    for e in tail.iter().rev().filter(|e| e.from == author) {
        if crate::domain::millis_of_rfc3339(&e.at).is_some_and(|at| at < since) {
            break;
        }
        recent.push(e.clone());
        digits += crate::masking::digit_count(&e.text);
        if digits >= crate::masking::SPLIT_DIGITS {
            break;
        }
    }
    recent.reverse();
    recent
}

/// Where the memory engine announces events: called inside its critical
/// section, so that events go out in the order the state changed.
pub type Announcer = std::sync::Arc<dyn Fn(Envelope) + Send + Sync>;

/// The stored entry, and whether it was stored before under the same key.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The entry with its seq.
    pub entry: Entry,
    /// True when this is a resend of an entry already stored.
    pub duplicate: bool,
    /// The conversation's cardholder and agent, to deliver to.
    pub cardholder: UserId,
    /// The agent, when active.
    pub agent: Option<UserId>,
    /// Where the conversation stands.
    pub status: ConversationStatus,
    /// True when this is the first entry of its author in the conversation.
    pub first_from_author: bool,
    /// True when the step queued a notification for the absent cardholder.
    pub notified: bool,
    /// True when this entry reopened a resolved thread (back in its inbox).
    pub reopened: bool,
}

/// An agent as the token describes it.
#[derive(Debug, Clone)]
pub struct AgentProfile {
    /// Agent id.
    pub sub: UserId,
    /// Display name.
    pub name: String,
    /// Teams served.
    pub teams: Vec<Team>,
    /// Concurrent chat limit.
    pub max_chats: u8,
}

/// What the store knows about an agent when it (re)connects.
#[derive(Debug, Clone)]
pub struct AgentSnapshot {
    /// Current availability.
    pub state: AgentState,
    /// Chats it holds.
    pub active: Vec<Conversation>,
    /// Whether each chat's cardholder is there, in the order of `active`.
    pub presence: Vec<crate::domain::CardholderPresence>,
}

/// One pairing made by [`Store::route`].
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The conversation, now active.
    pub conversation: Conversation,
    /// How long it waited in the queue.
    pub waited_ms: Millis,
}

/// A conversation's place in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlace {
    /// The conversation.
    pub conversation: ConversationId,
    /// Its cardholder.
    pub cardholder: UserId,
    /// 1 = next.
    pub position: u64,
    /// When it (last) entered the queue; its wait is measured from here.
    pub queued_at: Millis,
}

/// One tier queue's order plus its recent waits, for `queued` updates.
#[derive(Debug, Clone, Default)]
pub struct QueueSnapshot {
    /// In serving order.
    pub places: Vec<QueuePlace>,
    /// Average of recent waits in this tier, when known.
    pub recent_wait_ms: Option<Millis>,
}

/// One conversation's place in its queue, for a `queued` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStanding {
    /// 1 = next.
    pub position: u64,
    /// Conversations in that queue.
    pub depth: u64,
    /// Average of recent waits in the tier, when known.
    pub recent_wait_ms: Option<Millis>,
}

impl QueueStanding {
    /// Estimated wait: the tier's recent average wait, scaled by how far
    /// down the queue the conversation is (`avg × position / depth`);
    /// unknown until the tier has served somebody.
    pub fn eta_seconds(&self) -> Option<u64> {
        let avg = self.recent_wait_ms?.max(0);
        let depth = i64::try_from(self.depth.max(1)).unwrap_or(i64::MAX);
        let pos = i64::try_from(self.position).unwrap_or(i64::MAX).min(depth);
        Some(u64::try_from((avg * pos / depth + 999) / 1000).unwrap_or(0))
    }
}

/// What a supervisor's console shows of the teams it supervises, read
/// from the store's indexes (never by scanning every key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// The tier queues among the teams, in tier order.
    pub queues: Vec<QueueOverview>,
    /// The agents of the teams, by id.
    pub agents: Vec<AgentOverview>,
    /// The callback desks among the teams.
    pub desks: Vec<DeskOverview>,
    /// The secure-message inboxes among the teams (filled by the hub from
    /// [`Store::inbox_stats`]).
    pub inboxes: Vec<InboxOverview>,
}

/// One team's secure-message inbox, for `/metrics` and the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxOverview {
    /// The tier team.
    pub tier: Tier,
    /// Threads waiting.
    pub depth: u64,
    /// When the longest-waiting of them entered the inbox (among the first
    /// [`INBOX_PAGE`] in inbox order).
    pub oldest_queued_at: Option<Millis>,
}

/// One tier queue in an [`Overview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOverview {
    /// The tier.
    pub tier: Tier,
    /// Conversations waiting.
    pub depth: u64,
    /// When the head of the queue started waiting.
    pub oldest_queued_at: Option<Millis>,
    /// The waits of the most recently answered conversations, newest first
    /// (at most [`RECENT_WAITS`]): the service level is read from them.
    pub recent_waits: Vec<Millis>,
}

/// One agent in an [`Overview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOverview {
    /// Agent id.
    pub sub: UserId,
    /// Display name.
    pub name: String,
    /// Availability.
    pub state: AgentState,
    /// Whether a connection of the agent is open on a live node.
    pub online: bool,
    /// The chats it holds.
    pub conversations: Vec<ConversationId>,
    /// Its concurrent chat limit.
    pub max_chats: u8,
    /// Its teams.
    pub teams: Vec<Team>,
    /// When its availability last changed.
    pub state_since: Millis,
}

/// One callback desk in an [`Overview`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskOverview {
    /// The desk.
    pub desk: Desk,
    /// Its open requests.
    pub open: u64,
}

/// The service level of a queue: the share of `waits` (the recently
/// answered conversations) answered within `sla_ms`; `None` before anyone
/// was answered.
pub fn service_level(waits: &[Millis], sla_ms: Millis) -> Option<f64> {
    if waits.is_empty() {
        return None;
    }
    let within = waits.iter().filter(|&&w| w <= sla_ms).count();
    Some(within as f64 / waits.len() as f64)
}

/// Audit entries the store keeps per team for the console (the archive
/// keeps all).
pub const AUDIT_KEPT: usize = 200;

/// The most recent `limit` audit entries of several teams' lists (each
/// newest first), newest first; an entry about several of them is listed
/// once. Both engines read the audit log through it.
pub fn merge_audit(lists: Vec<Vec<AuditEntry>>, limit: usize) -> Vec<AuditEntry> {
    let mut all: Vec<AuditEntry> = lists.into_iter().flatten().collect();
    // Stable: entries of one millisecond keep their list's order.
    all.sort_by_key(|e| std::cmp::Reverse(e.at));
    let mut merged: Vec<AuditEntry> = Vec::with_capacity(limit.min(all.len()));
    for e in all {
        if merged.len() == limit {
            break;
        }
        if !merged
            .iter()
            .rev()
            .take_while(|m| m.at == e.at)
            .any(|m| m == &e)
        {
            merged.push(e);
        }
    }
    merged
}

/// What happened when a grace period ran out.
#[derive(Debug, Clone)]
pub enum GraceOutcome {
    /// A queued cardholder did not come back: the conversation ended.
    Abandoned(Conversation),
    /// An agent did not come back: its chat went back to the head of its queue.
    Requeued {
        /// The conversation, queued again.
        conversation: Conversation,
        /// The agent who dropped.
        agent: UserId,
    },
}

/// Which side of a conversation a presence change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// A cardholder.
    Cardholder,
    /// An agent.
    Agent,
    /// A supervisor: present only so that the chats it monitors reach it;
    /// it holds no chats and has no grace period.
    Supervisor,
}

impl From<Role> for Side {
    fn from(r: Role) -> Self {
        match r {
            Role::Cardholder => Side::Cardholder,
            Role::Agent => Side::Agent,
            Role::Supervisor => Side::Supervisor,
        }
    }
}

/// Calls after which a callback request that nobody answered is `failed`.
pub const MAX_CALLBACK_ATTEMPTS: u32 = 3;

/// How far back an agent's closed requests are listed ("done today": the
/// pane keeps those of the local day).
pub const DONE_WINDOW_MS: Millis = 86_400_000;

/// What is needed to raise a callback request.
#[derive(Debug, Clone)]
pub struct NewCallback {
    /// The desk.
    pub desk: Desk,
    /// The cardholder.
    pub sub: UserId,
    /// Their display name.
    pub name: Option<String>,
    /// Their tier.
    pub tier: Tier,
    /// Why, structured (the readable reason is [`Cause::describe`]).
    pub cause: Cause,
    /// The conversation.
    pub conversation: ConversationId,
    /// Phone digits on file.
    pub phone_last4: Option<String>,
    /// Now.
    pub now: Millis,
}

/// A desk's order: premium first, then oldest first. The Redis engine
/// stores this rank as the score of the desk's index.
pub fn desk_rank(tier: Tier, created_at: Millis) -> i64 {
    let premium_first = if tier == Tier::Premium { 0 } else { 1 };
    premium_first * 10_000_000_000_000 + created_at
}

/// How long an ended conversation or a closed callback request stays in
/// the store unless configured otherwise (`--hot-retention`, SPEC: 24 h), ms.
pub const DEFAULT_HOT_RETENTION_MS: Millis = 86_400_000;

/// Orders a desk's list by [`desk_rank`], then by reference.
pub fn desk_order(r: &CallbackRequest) -> (i64, String) {
    (desk_rank(r.tier, r.created_at), r.reference.0.clone())
}

/// The idempotency key of a message: the sender's side and its client id,
/// so a cardholder's `k1` and the agent's `k1` are different messages.
pub fn idempotency_key(author: Author, client_id: &str) -> String {
    format!("{author}:{client_id}")
}

/// How much one conversation may hold (`--max-transcript-entries`,
/// `--max-transcript-bytes`): a typed entry past either is refused with
/// [`StoreError::TranscriptFull`]. Both engines check it in the append step,
/// before its first write and after its idempotency check (a resend of a
/// stored entry is still answered as a duplicate). The hub's own entries
/// ([`Author::System`]: a disconnected agent, an escalation) are neither
/// refused nor counted, so a full conversation still tells its cardholder
/// what happens to it; they are few per conversation.
///
/// The bounds also keep every whole-transcript operation of the engines
/// short (ending, expiring, archiving: see `docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscriptBounds {
    /// Most entries (seq of the last one).
    pub entries: u64,
    /// Most bytes of typed text (UTF-8), counted by [`transcript_charge`].
    pub bytes: u64,
}

/// SPEC's default for `--max-transcript-entries`.
pub const DEFAULT_MAX_TRANSCRIPT_ENTRIES: u64 = 5_000;

/// SPEC's default for `--max-transcript-bytes`: 2 MB (decimal, as SPEC
/// writes it).
pub const DEFAULT_MAX_TRANSCRIPT_BYTES: u64 = 2_000_000;

impl Default for TranscriptBounds {
    fn default() -> Self {
        TranscriptBounds {
            entries: DEFAULT_MAX_TRANSCRIPT_ENTRIES,
            bytes: DEFAULT_MAX_TRANSCRIPT_BYTES,
        }
    }
}

impl TranscriptBounds {
    /// Whether a conversation holding `entries` entries and `bytes` bytes
    /// of counted text takes one more entry costing `charge` bytes.
    pub fn takes(&self, entries: u64, bytes: u64, charge: u64) -> bool {
        entries < self.entries && bytes.saturating_add(charge) <= self.bytes
    }
}

/// The bytes an entry adds to its conversation's count, `None` when it is
/// not bounded (the hub's own entries). The count is an upper bound of the
/// typed text stored: the new text's UTF-8 length, plus the full new length
/// of each earlier entry it redacts (their old lengths stay counted;
/// a mask may be a few bytes longer than the digits it hides, as in
/// `**** **** **** 1111` for sixteen digits typed without spaces).
pub fn transcript_charge(entry: &NewEntry) -> Option<u64> {
    if entry.author == Author::System {
        return None;
    }
    let redacted: usize = entry.redact.iter().map(|r| r.entry.text.len()).sum();
    Some((entry.text.len() + redacted) as u64)
}

/// Every state change and query the hub makes, each atomic: the areas
/// below, together. Code that needs one area names that trait; the hub
/// holds the whole store.
pub trait Store:
    Chats + Transcripts + Supervision + Presence + Callbacks + Threads + Notifications
{
}

// Each area is `Send + Sync + Debug + 'static` already, so the whole is too.
impl<T> Store for T where
    T: Chats + Transcripts + Supervision + Presence + Callbacks + Threads + Notifications
{
}

/// The store's routing and live chats: opening, routing, ending, transferring, agents, queues.
#[async_trait]
pub trait Chats: Send + Sync + Debug + 'static {
    /// Opens a conversation, or returns the cardholder's open one.
    async fn open_conversation(&self, new: NewConversation) -> StoreResult<Opened>;

    /// One conversation; `None` for an unknown one or one whose hot
    /// retention ran out after it ended.
    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>>;

    /// The cardholder's open (queued or active) conversation.
    async fn open_conversation_of(&self, cardholder: &UserId) -> StoreResult<Option<Conversation>>;

    /// Ends a conversation (leaves the queue, frees the agent's slot); it is
    /// forgotten (record, transcript, idempotency keys) after the engine's
    /// hot retention. `by_agent` must hold it when given. `None` when it was
    /// already over.
    async fn end(
        &self,
        id: &ConversationId,
        by_agent: Option<&UserId>,
        reason: EndReason,
        now: Millis,
    ) -> StoreResult<Option<Conversation>>;

    /// Moves an active conversation held by `agent` to the head of `tier`'s
    /// queue; `note` (staff only) goes with it to the next agent. Monitors
    /// who do not supervise `tier` are dropped in the same step
    /// ([`Store::monitor`]).
    async fn transfer(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<Conversation>;

    /// Keeps the cardholder's rating of an ended conversation, once:
    /// `NotAllowed` when it is not theirs, not over, or rated already;
    /// `NoConversation` when the store does not know it (any more). With
    /// an archive, the rated record is handed over again (the archive
    /// takes the rating by an idempotent update).
    async fn rate(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        rating: Rating,
    ) -> StoreResult<Conversation>;

    /// Adds an internal note to an active conversation held by `note.by`
    /// and announces it to the agent and the supervisors monitoring it
    /// (never to the cardholder). `NotAllowed` past [`MAX_NOTES`].
    async fn add_note(&self, id: &ConversationId, note: Note) -> StoreResult<Conversation>;

    /// Records an agent's profile on connect; returns its state and chats.
    async fn register_agent(
        &self,
        profile: &AgentProfile,
        now: Millis,
    ) -> StoreResult<AgentSnapshot>;

    /// Sets an agent's availability.
    async fn set_agent_state(
        &self,
        agent: &UserId,
        state: AgentState,
        now: Millis,
    ) -> StoreResult<()>;

    /// Pairs queued conversations with available agents, at most
    /// [`ROUTE_BATCH`] in one atomic step, in the orders of [`order`].
    async fn route(&self, now: Millis) -> StoreResult<Vec<Assignment>>;

    /// A tier queue in serving order, with recent waits.
    async fn queue_snapshot(&self, tier: Tier) -> StoreResult<QueueSnapshot>;

    /// Where one conversation stands in a tier queue (`None`: not queued there).
    async fn queue_standing(
        &self,
        id: &ConversationId,
        tier: Tier,
    ) -> StoreResult<Option<QueueStanding>>;

    /// How many agents of `team` have a connection open on a live node
    /// (signed in, whatever their availability).
    async fn agents_online(&self, team: Team) -> StoreResult<u64>;

    /// Depth and oldest wait of every tier queue.
    async fn queue_stats(&self, now: Millis) -> StoreResult<Vec<QueueView>>;
}

/// The store's transcripts: appending entries, reading them back.
#[async_trait]
pub trait Transcripts: Send + Sync + Debug + 'static {
    /// Appends a transcript entry with the next seq; a resend with a known
    /// `client_id` returns the stored entry. Fails with `NoConversation` when
    /// the conversation is over or the sender is not part of it.
    async fn append(&self, id: &ConversationId, entry: NewEntry) -> StoreResult<Appended>;

    /// The author's recent entries, oldest first, for a number typed over
    /// several messages ([`recent_of`] of the conversation's last
    /// [`RECENT_TAIL`] entries). Empty for an unknown conversation.
    async fn recent_entries(
        &self,
        id: &ConversationId,
        author: Author,
        since: Millis,
    ) -> StoreResult<Vec<Entry>>;

    /// Entries with seq > `after`, at most `limit`.
    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Entry>>;
}

/// The store's supervision: the overview, monitors, the audit log.
#[async_trait]
pub trait Supervision: Send + Sync + Debug + 'static {
    /// The supervisor console's picture of `teams`: their queues, agents
    /// and desks.
    async fn overview(&self, teams: &[Team]) -> StoreResult<Overview>;

    /// Starts one connection's monitoring of an open conversation by a
    /// supervisor of `teams`, counted per supervisor: while any of its
    /// connections monitors it, its entries, notes, redactions and end
    /// reach the supervisor too (never the other way). `None` when the
    /// conversation is unknown or over; `NotAllowed` when its team (its
    /// tier) is not one of `teams`, checked in the same step.
    ///
    /// The monitor keeps the supervisor's teams (a second connection keeps
    /// only the teams both name): a step that moves the chat to a team not
    /// among them (`transfer`, `escalate` to a desk) drops the supervisor
    /// from its monitors and announces `monitor_ended` (`out_of_scope`) to
    /// them before anything else it announces, and the end of the chat
    /// announces `monitor_ended` (`ended`) right after `ended`.
    async fn monitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        teams: &[Team],
        now: Millis,
    ) -> StoreResult<Option<Conversation>>;

    /// Stops one connection's monitoring ([`Store::monitor`]); the
    /// supervisor hears the chat while another of its connections monitors it.
    async fn unmonitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        now: Millis,
    ) -> StoreResult<()>;

    /// Appends a supervisor action to the audit log of each of its teams
    /// (the last [`AUDIT_KEPT`] of each stay in the store).
    async fn audit(&self, entry: AuditEntry) -> StoreResult<()>;

    /// The most recent audit entries about any of `teams`, newest first,
    /// at most `limit` ([`merge_audit`]).
    async fn recent_audit(&self, teams: &[Team], limit: usize) -> StoreResult<Vec<AuditEntry>>;
}

/// The store's presence: connections, grace periods, nodes.
#[async_trait]
pub trait Presence: Send + Sync + Debug + 'static {
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// A connection of `user` opened on this node (cancels a running grace).
    async fn presence_up(&self, user: &UserId, side: Side, now: Millis) -> StoreResult<()>;

    /// A connection of `user` closed on this node. When it was the user's
    /// last one anywhere: an agent goes away and its chats get `grace_ms` to
    /// come back; a queued cardholder keeps its place for `grace_ms`.
    async fn presence_down(
        &self,
        user: &UserId,
        side: Side,
        now: Millis,
        grace_ms: Millis,
    ) -> StoreResult<()>;

    /// Applies every grace period that ran out by `now` (the hub's ticker
    /// calls it every second; the memory engine also forgets then what
    /// outlived its retention, Redis expires keys by itself).
    async fn expire_graces(&self, now: Millis) -> StoreResult<Vec<GraceOutcome>>;

    /// Marks this node alive, and hands the users of nodes silent for
    /// longer than `sweep.stale_ms` their grace periods; in the same step,
    /// every active chat of an agent left with no connection anywhere gets
    /// `sweep.notice` (a system message) so its cardholder knows at once.
    /// Returns the store's epoch, which changes only when the store lost its
    /// data.
    async fn heartbeat(&self, now: Millis, sweep: &Sweep) -> StoreResult<Beat>;

    /// Takes this node out of the live set on a clean shutdown (after its
    /// connections closed), so that its id may be used again at once.
    async fn retire(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// The store's callback requests: requesting, escalating, desks, claims, outcomes.
#[async_trait]
pub trait Callbacks: Send + Sync + Debug + 'static {
    /// Raises a callback request, or returns the cardholder's open one at
    /// that desk (`false` then).
    async fn request_callback(&self, new: NewCallback) -> StoreResult<(CallbackRequest, bool)>;

    /// A desk's open requests, premium first, then oldest first.
    async fn callbacks(&self, desk: Desk) -> StoreResult<Vec<CallbackRequest>>;

    /// A cardholder's open requests.
    async fn callbacks_of(&self, sub: &UserId) -> StoreResult<Vec<CallbackRequest>>;

    /// Ends a chat as escalated, in one step: appends the system message
    /// that tells the cardholder what happens next, announces `escalated`
    /// (with the request) and `ended` to the cardholder. The chat leaves
    /// for the request's desk: monitors who do not supervise it hear
    /// `monitor_ended` (`out_of_scope`) first, and nothing after. `None`
    /// when the conversation was already over.
    async fn escalate(
        &self,
        id: &ConversationId,
        request: &CallbackRequest,
        message: String,
        now: Millis,
    ) -> StoreResult<Option<Conversation>>;

    /// Claims an open, unclaimed request of one of `desks`: exactly one
    /// claimer wins, the others get `NotAllowed`; a request of another desk
    /// is `NoConversation`, as if it did not exist.
    async fn claim_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        desks: &[Desk],
        now: Millis,
    ) -> StoreResult<CallbackRequest>;

    /// Records the outcome of a call (with the agent's note) by the agent
    /// holding the request; a closed request leaves the open indexes and is
    /// forgotten after the engine's hot retention.
    async fn complete_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        outcome: CallbackOutcome,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<CallbackRequest>;

    /// The requests `agent` closed since `since` (ms) that the store still
    /// holds (closed ones are kept for the hot retention), newest first.
    async fn closed_by(&self, agent: &UserId, since: Millis) -> StoreResult<Vec<CallbackRequest>>;
}

/// The store's secure-message threads: opening, inboxes, claims, resolving, read marks.
#[async_trait]
pub trait Threads: Send + Sync + Debug + 'static {
    /// Opens a secure-message thread: it waits in the inbox of its tier's
    /// team (ranked by [`inbox::inbox_rank`]), not in a live queue, and never
    /// expires on disconnect. `NotAllowed` when the cardholder already holds
    /// [`inbox::MAX_OPEN_THREADS`] open (unresolved) threads, checked in the
    /// same step. `new.enqueue` is ignored.
    /// `id` is the thread's id, chosen by the hub: when a thread of this
    /// cardholder already has it (a resend), that one is returned, not
    /// created (`created` false), and the cap is not checked again.
    async fn open_thread(&self, new: NewConversation, id: ConversationId) -> StoreResult<Opened>;

    /// The cardholder's threads still kept (open and resolved), newest first.
    async fn threads_of(&self, cardholder: &UserId) -> StoreResult<Vec<Conversation>>;

    /// Every tier team's inbox: depth and the oldest waiting thread.
    async fn inbox_stats(&self) -> StoreResult<Vec<InboxOverview>>;

    /// A team's inbox, earliest reply due first, at most [`INBOX_PAGE`].
    async fn inbox(&self, team: Tier) -> StoreResult<Vec<Conversation>>;

    /// Claims a thread waiting in the inbox of one of `tiers` for `agent`:
    /// exactly one claimer wins (the others get `NotAllowed`); a thread of
    /// another team is `NoConversation`. Announces `assigned` to both sides
    /// in the same step, as routing does. A claimed thread does not take one
    /// of the agent's live chat slots.
    async fn claim_thread(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tiers: &[Tier],
        now: Millis,
    ) -> StoreResult<Assignment>;

    /// Resolves a thread `agent` holds: status `resolved`, `ended` (reason
    /// `resolved`) announced to both sides; it stays the cardholder's, is
    /// forgotten after the hot retention, and the cardholder's next message
    /// reopens it into its inbox (cancelling the expiry).
    async fn resolve(
        &self,
        id: &ConversationId,
        agent: &UserId,
        now: Millis,
    ) -> StoreResult<Conversation>;

    /// Records that the cardholder read its conversation up to `seq`.
    async fn mark_read(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        seq: Seq,
        now: Millis,
    ) -> StoreResult<()>;
}

/// The store's the notification queue: taking, settling, its backlog.
#[async_trait]
pub trait Notifications: Send + Sync + Debug + 'static {
    /// Takes up to `batch` notifications due by `now` for this node, each
    /// leased for `lease_ms` (counted as an attempt): another node takes it
    /// only once the lease ran out unsettled.
    async fn take_notifications(
        &self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> StoreResult<Vec<Notification>>;

    /// Settles a delivery attempt taken with [`Store::take_notifications`]:
    /// false (and nothing changes) when that lease is no longer the
    /// notification's (another node took it since, or it is gone).
    async fn settle_notification(
        &self,
        n: &Notification,
        how: Settle,
        now: Millis,
    ) -> StoreResult<bool>;

    /// Notifications not delivered yet.
    async fn notification_backlog(&self) -> StoreResult<NotificationBacklog>;
}

/// Applies a call's outcome to a claimed request: `no_answer` returns it to
/// the desk's list until [`MAX_CALLBACK_ATTEMPTS`], then it is `failed`.
/// The one definition of callback outcomes: both engines call it.
pub fn after_outcome(
    r: &CallbackRequest,
    outcome: CallbackOutcome,
    by: &UserId,
    note: Option<String>,
    now: Millis,
) -> CallbackRequest {
    let attempts = r.attempts + 1;
    let status = match outcome {
        CallbackOutcome::Reached => CallbackStatus::Reached,
        CallbackOutcome::Failed => CallbackStatus::Failed,
        CallbackOutcome::NoAnswer if attempts >= MAX_CALLBACK_ATTEMPTS => CallbackStatus::Failed,
        CallbackOutcome::NoAnswer => CallbackStatus::NoAnswer,
    };
    let mut next = r.clone();
    next.status = status;
    next.attempts = attempts;
    next.claimed_by = None;
    next.history.push(Attempt {
        at: now,
        outcome,
        by: Some(by.clone()),
        note,
    });
    next
}

/// A fresh callback reference: short enough to read out on the phone.
pub fn new_callback_ref(desk: Desk) -> CallbackRef {
    let n: u32 = rand::random::<u32>() % 1_000_000;
    CallbackRef::numbered(desk, n)
}

/// What a heartbeat needs to sweep dead nodes.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The grace periods the users of a dead node get.
    pub graces: Graces,
    /// A node silent for longer than this is dead.
    pub stale_ms: Millis,
    /// The system message each chat of a dead node's agent gets at once.
    pub notice: String,
}

/// What a heartbeat learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// The store's epoch: a random id set once per store lifetime; a new one
    /// means the store lost its data (Redis restarted without persistence).
    pub epoch: String,
    /// Conversations whose agent went with a dead node (told `notice`).
    pub told: Vec<ConversationId>,
    /// This node had been taken for dead while alive (it missed heartbeats
    /// for longer than the timeout): its presence was dropped, so its
    /// connections must reconnect to be known again.
    pub revived: bool,
}

/// The grace periods, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Graces {
    /// A queued cardholder's place is kept this long after its last connection drops.
    pub cardholder_ms: Millis,
    /// An agent's chats are kept this long after its last connection drops.
    pub agent_ms: Millis,
}

impl Default for Graces {
    /// SPEC: 60 s for cardholders, 30 s for agents.
    fn default() -> Self {
        Graces {
            cardholder_ms: 60_000,
            agent_ms: 30_000,
        }
    }
}

impl Graces {
    /// The grace for one side.
    pub fn for_side(&self, side: Side) -> Millis {
        match side {
            Side::Cardholder => self.cardholder_ms,
            Side::Agent => self.agent_ms,
            Side::Supervisor => 0,
        }
    }
}

/// Average of recent waits.
pub fn average_wait(waits: &[Millis]) -> Option<Millis> {
    if waits.is_empty() {
        return None;
    }
    Some(waits.iter().sum::<Millis>() / waits.len() as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Millis, action: &str, teams: &[Team]) -> AuditEntry {
        AuditEntry {
            at,
            by: "sup".into(),
            action: action.to_owned(),
            target: "ag".into(),
            detail: String::new(),
            teams: teams.to_vec(),
        }
    }

    #[test]
    fn merged_audit_lists_are_newest_first_once_each_and_bounded() {
        let both = entry(
            5,
            "reassign",
            &[Team::Tier(Tier::Standard), Team::Tier(Tier::Premium)],
        );
        let standard = vec![
            both.clone(),
            entry(3, "monitor", &[Team::Tier(Tier::Standard)]),
        ];
        let premium = vec![
            both.clone(),
            entry(4, "set_agent_state", &[Team::Tier(Tier::Premium)]),
        ];
        let merged = merge_audit(vec![standard.clone(), premium.clone()], 10);
        assert_eq!(
            merged.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![5, 4, 3],
            "the entry about both teams is listed once"
        );
        assert_eq!(merge_audit(vec![standard, premium], 2).len(), 2);
        assert!(merge_audit(Vec::new(), 10).is_empty());
    }
}
