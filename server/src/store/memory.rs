//! The embedded engine: all routing state in one process, behind one mutex.
//!
//! Used when no `--redis-url` is given: a single hub node, nothing kept
//! across restarts. Every [`Store`] call is one critical section on a plain
//! `std::sync::Mutex` (nothing is awaited while it is held), which makes each
//! call atomic exactly as the Redis engine's scripts are.

mod notifications;
mod queue;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::inbox::{inbox_rank, MessageSla, MAX_OPEN_THREADS};
use super::notifications::{new_notification_id, notify_event};
use super::order::{availability_score, queue_score, QueueRank, QueueRanks};
use super::{
    after_outcome, average_wait, desk_rank, idempotency_key, new_callback_ref, AgentOverview,
    AgentProfile, AgentSnapshot, Announcer, Appended, Assignment, Beat, DeskOverview, GraceOutcome,
    NewCallback, NewConversation, NewEntry, Opened, Overview, QueueOverview, QueuePlace,
    QueueSnapshot, QueueStanding, Side, StoreError, StoreResult, Sweep, TranscriptBounds,
    DEFAULT_HOT_RETENTION_MS, MAX_NOTES, MAX_TRANSCRIPT_PAGE, RECENT_WAITS, ROUTE_BATCH,
};
use super::{Callbacks, Chats, Notifications, Presence, Supervision, Threads, Transcripts};
use super::{Notification, NotificationBacklog, Settle};
use crate::archive::memory::MemoryArchive;
use crate::domain::archive::{ArchivedCallback, ArchivedConversation};
use crate::domain::audit::AuditEntry;
use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::{Conversation, Entry, Note, Rating, Transfer};
use crate::domain::queue::QueueView;
use crate::domain::{
    rfc3339, tier_index, AgentState, Author, CallbackRef, CardholderPresence, ConversationId,
    ConversationKind, ConversationStatus, Desk, EndReason, Millis, MonitorEndReason, Seq, Team,
    Tier, UserId,
};
use crate::domain::{CallbackOutcome, CallbackStatus};
use crate::events::{Audience, Envelope, Event};
use queue::TierQueue;

/// The memory engine's epoch: its state lives and dies with the process.
const MEMORY_EPOCH: &str = "memory";

/// The in-process engine.
pub struct MemoryStore {
    /// All state; one lock so that every call is atomic.
    state: Mutex<State>,
    /// Where events go, in the order of the changes (none: nowhere, as in tests).
    announcer: Option<Announcer>,
    /// How long an ended conversation or a closed callback request is kept
    /// (ms, `--hot-retention`).
    retention: Millis,
    /// Where ended conversations and closed requests go for history (none:
    /// nowhere, as in tests that do not need it).
    archive: Option<Arc<MemoryArchive>>,
    /// Whether agents' entries to absent cardholders queue notifications.
    notifying: Option<super::Notifying>,
    /// The reply targets that order the inboxes (`--message-sla`).
    sla: MessageSla,
    /// How much one conversation may hold (`--max-transcript-entries`,
    /// `--max-transcript-bytes`).
    bounds: TranscriptBounds,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Mutex::default(),
            announcer: None,
            retention: DEFAULT_HOT_RETENTION_MS,
            archive: None,
            notifying: None,
            sla: MessageSla::default(),
            bounds: TranscriptBounds::default(),
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    conversations: HashMap<ConversationId, Record>,
    /// The open conversation of each cardholder (SPEC: `start` is idempotent).
    open: HashMap<UserId, ConversationId>,
    /// One queue per tier, indexed like `Tier::ALL`.
    queues: [TierQueue; 4],
    agents: HashMap<UserId, AgentRecord>,
    /// Open connections per user and side.
    presence: HashMap<(Side, UserId), u32>,
    /// Running grace periods: deadline per user and side …
    graces: HashMap<(Side, UserId), Millis>,
    /// … and the same by deadline, so expiring them reads only the due ones.
    grace_order: BTreeSet<(Millis, Side, UserId)>,
    /// Recent waits per tier, newest first, for ETAs.
    waits: [VecDeque<Millis>; 4],
    /// Tiebreak counter for queue scores.
    counter: u64,
    /// Callback requests by reference (open ones and closed ones kept for
    /// the retention).
    callbacks: HashMap<CallbackRef, CallbackRequest>,
    /// The open request of each cardholder per desk.
    open_request: HashMap<(UserId, Desk), CallbackRef>,
    /// Each desk's open requests in desk order ([`super::desk_order`]).
    desk_requests: HashMap<Desk, BTreeSet<(i64, CallbackRef)>>,
    /// Each cardholder's open requests in desk order.
    requests_of: HashMap<UserId, BTreeSet<(i64, CallbackRef)>>,
    /// Ended conversations by the time they are forgotten.
    ended: BTreeSet<(Millis, ConversationId)>,
    /// Closed callback requests by the time they are forgotten.
    closed: BTreeSet<(Millis, CallbackRef)>,
    /// The last supervisor actions about each team, newest first.
    audit: HashMap<Team, VecDeque<AuditEntry>>,
    /// Notifications not delivered yet.
    notices: notifications::Notices,
    /// Each cardholder's message threads still kept (open and resolved).
    threads: HashMap<UserId, BTreeSet<ConversationId>>,
    /// One inbox per tier team, indexed like `Tier::ALL`, by
    /// [`super::inbox::inbox_rank`].
    inboxes: [BTreeSet<(i64, ConversationId)>; 4],
}

#[derive(Debug)]
struct Record {
    conversation: Conversation,
    /// Its place in every tier's queue (fixed when it opened), so a chat
    /// whose agent dropped or transferred it returns with its original place.
    ranks: QueueRanks,
    transcript: Vec<Entry>,
    /// Bytes of typed text counted against `--max-transcript-bytes`
    /// ([`super::transcript_charge`]).
    text_bytes: u64,
    /// Idempotency keys already stored, per author side, to their seq.
    client_ids: HashMap<String, Seq>,
    /// The callback request it was escalated to.
    callback: Option<CallbackRef>,
    /// Supervisors monitoring it, with their connections and teams.
    monitors: BTreeMap<UserId, Monitor>,
}

/// A supervisor monitoring a conversation.
#[derive(Debug)]
struct Monitor {
    /// Its connections that monitor it (one leaving keeps the others').
    connections: u32,
    /// The teams it supervises (those every monitoring connection named):
    /// the chat is monitored while its team is one of them.
    teams: Vec<Team>,
}

impl Record {
    /// Leaves its agent (recorded in `transfers`, with the agent's note for
    /// the next one) to wait for `tier`'s team again, from `now`: in a
    /// queue, or a thread in an inbox.
    fn back_to_wait(&mut self, tier: Tier, note: Option<String>, now: Millis) {
        let c = &mut self.conversation;
        if let Some(from) = c.agent.clone() {
            c.transfers.push(Transfer {
                at: now,
                from,
                tier,
                from_tier: Some(c.tier),
                by_name: c.agent_name.clone(),
                note,
            });
        }
        c.status = ConversationStatus::Queued;
        c.tier = tier;
        c.agent = None;
        c.agent_name = None;
        c.queued_at = now;
    }

    /// Who hears its entries, redactions and end: both sides and its monitors.
    fn audiences(&self) -> Vec<Audience> {
        let mut to = both_sides(&self.conversation);
        to.extend(self.monitoring());
        to
    }

    /// The supervisors monitoring it.
    fn monitoring(&self) -> impl Iterator<Item = Audience> + '_ {
        self.monitors.keys().cloned().map(Audience::Supervisor)
    }

    /// The chat now belongs to `team`: the monitors who do not supervise
    /// it stop monitoring; returns them (to be told, before anything else).
    fn leave_scope(&mut self, team: Team) -> Vec<Audience> {
        let mut gone = Vec::new();
        self.monitors.retain(|sub, m| {
            let stays = m.teams.contains(&team);
            if !stays {
                gone.push(Audience::Supervisor(sub.clone()));
            }
            stays
        });
        gone
    }
}

#[derive(Debug)]
struct AgentRecord {
    profile: AgentProfile,
    state: AgentState,
    active: BTreeSet<ConversationId>,
    /// Message threads it claimed (not counted against `max_chats`).
    threads: BTreeSet<ConversationId>,
    idle_since: Millis,
    /// When `state` last changed.
    state_since: Millis,
}

impl AgentRecord {
    fn has_free_slot(&self) -> bool {
        self.state == AgentState::Available
            && self.active.len() < usize::from(self.profile.max_chats)
    }

    fn set_state(&mut self, state: AgentState, now: Millis) {
        if self.state != state {
            self.state_since = now;
            if state == AgentState::Available {
                self.idle_since = now;
            }
        }
        self.state = state;
    }

    fn serves(&self, tier: Tier) -> bool {
        self.profile.teams.iter().any(|t| t.tier() == Some(tier))
    }
}

impl MemoryStore {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces an event (inside the caller's critical section, so that
    /// events leave in the order of the changes).
    fn announce(&self, to: Vec<Audience>, event: Event) {
        if let Some(announce) = &self.announcer {
            announce(Envelope::now(to, event));
        }
    }

    /// Tells the agent of a chat whether its cardholder is there.
    fn announce_presence(&self, agent: &UserId, id: &ConversationId, p: CardholderPresence) {
        self.announce(
            vec![Audience::Agent(agent.clone())],
            Event::Presence {
                conversation: id.clone(),
                cardholder: p,
            },
        );
    }

    /// Ends a conversation inside the caller's critical section: announces
    /// `ended` to both sides and its monitors, hands it to the archive, and forgets it after
    /// the retention. `None` when it was already over.
    fn finish(
        &self,
        s: &mut State,
        id: &ConversationId,
        reason: EndReason,
        now: Millis,
    ) -> Option<Conversation> {
        let c = s.end(id, reason, now, now + self.retention)?;
        self.announce(
            s.conversations
                .get(&c.id)
                .map_or_else(|| both_sides(&c), Record::audiences),
            Event::Ended {
                conversation: c.id.clone(),
                reason,
            },
        );
        // A conversation that is over has no monitors left (a resolved
        // thread that reopens is not monitored again unless asked).
        let monitors = s
            .conversations
            .get_mut(id)
            .map(|r| std::mem::take(&mut r.monitors))
            .unwrap_or_default();
        self.announce_monitor_ended(
            monitors.into_keys().map(Audience::Supervisor).collect(),
            id,
            MonitorEndReason::Ended,
        );
        if let Some(record) = s.conversations.get(id) {
            self.hand_over(record);
        }
        Some(c)
    }

    /// Tells supervisors their monitor of `id` ended (nothing when none).
    fn announce_monitor_ended(
        &self,
        to: Vec<Audience>,
        id: &ConversationId,
        reason: MonitorEndReason,
    ) {
        if !to.is_empty() {
            self.announce(
                to,
                Event::MonitorEnded {
                    conversation: id.clone(),
                    reason,
                },
            );
        }
    }

    /// The chat `id` leaves for `team`: its monitors who do not supervise
    /// it stop, and are told first.
    fn follow_scope(&self, s: &mut State, id: &ConversationId, team: Team) {
        let gone = s
            .conversations
            .get_mut(id)
            .map(|r| r.leave_scope(team))
            .unwrap_or_default();
        self.announce_monitor_ended(gone, id, MonitorEndReason::OutOfScope);
    }

    /// Gives an ended conversation to the archive (again after a rating:
    /// the archive then only adds the rating).
    fn hand_over(&self, record: &Record) {
        if let Some(archive) = &self.archive {
            archive.keep_conversation(ArchivedConversation {
                conversation: record.conversation.clone(),
                callback: record.callback.clone(),
                entries: record.transcript.clone(),
            });
        }
    }

    /// An empty engine that announces events to `announcer`.
    pub fn with_announcer(announcer: Announcer) -> Self {
        MemoryStore {
            announcer: Some(announcer),
            ..Self::default()
        }
    }

    /// This engine, keeping ended conversations and closed callback
    /// requests for `retention` ms (`--hot-retention`) instead of the default.
    pub fn retaining(mut self, retention: Millis) -> Self {
        self.retention = retention.max(1);
        self
    }

    /// This engine, holding at most `bounds` per conversation instead of
    /// the defaults (`--max-transcript-entries`, `--max-transcript-bytes`).
    pub fn bounding(mut self, bounds: TranscriptBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// This engine, ordering the inboxes by these reply targets.
    pub fn with_message_sla(mut self, sla: MessageSla) -> Self {
        self.sla = sla;
        self
    }

    /// Announces a pairing (routing or a claimed thread) to both sides,
    /// with the transcript so far.
    fn announce_assigned(&self, record: &Record, waited_ms: Millis) {
        if self.announcer.is_none() {
            return;
        }
        let conversation = &record.conversation;
        let shown = usize::try_from(conversation.last_seq)
            .unwrap_or(0)
            .min(MAX_TRANSCRIPT_PAGE)
            .min(record.transcript.len());
        self.announce(
            both_sides(conversation),
            Event::Assigned {
                conversation: Box::new(conversation.clone()),
                waited_ms,
                transcript: record.transcript[..shown].to_vec(),
            },
        );
    }

    /// This engine, handing every ended conversation and closed callback
    /// request to `archive` (the embedded engine's history).
    pub fn archiving(mut self, archive: Arc<MemoryArchive>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// This engine, queueing a notification when an agent writes to a
    /// cardholder who is not connected (in memory: not durable).
    pub fn notifying(mut self, notifying: super::Notifying) -> Self {
        self.notifying = Some(notifying);
        self
    }

    /// Forgets the ended conversations and closed callback requests whose
    /// retention ran out by `now`. The store does it itself on
    /// `expire_graces` (the hub's ticker calls it every second) and when a
    /// conversation opens.
    pub fn forget_expired(&self, now: Millis) {
        self.lock().forget_expired(now);
    }

    /// Appends an entry inside the caller's critical section and announces it.
    fn append_locked(
        &self,
        s: &mut State,
        id: &ConversationId,
        new: NewEntry,
    ) -> StoreResult<Appended> {
        let record = s.record_mut(id)?;
        let c = &record.conversation;
        if c.status == ConversationStatus::Ended {
            return Err(StoreError::NoConversation);
        }
        if !may_write(c, new.author, new.sender.as_ref()) {
            return Err(StoreError::NoConversation);
        }
        let key = new
            .client_id
            .as_ref()
            .map(|k| idempotency_key(new.author, k));
        let (cardholder, agent, status) = (c.cardholder.clone(), c.agent.clone(), c.status);
        if let Some(seq) = key.as_ref().and_then(|k| record.client_ids.get(k)) {
            let entry = record.transcript[(*seq - 1) as usize].clone();
            return Ok(Appended {
                entry,
                duplicate: true,
                cardholder,
                agent,
                status,
                first_from_author: false,
                notified: false,
                reopened: false,
            });
        }
        let charge = super::transcript_charge(&new);
        if let Some(charge) = charge {
            if !self
                .bounds
                .takes(record.transcript.len() as u64, record.text_bytes, charge)
            {
                return Err(StoreError::TranscriptFull);
            }
        }
        // A number typed over several messages: each entry to redact must
        // still hold the text the hub read, checked before anything is written.
        let stale = |r: &super::Redaction| {
            usize::try_from(r.seq)
                .ok()
                .and_then(|seq| seq.checked_sub(1))
                .and_then(|i| record.transcript.get(i))
                .is_none_or(|e| e.text != r.was)
        };
        if new.redact.iter().any(stale) {
            return Err(StoreError::Conflict);
        }
        // The cardholder writes to a resolved thread: it goes back to its
        // team's inbox, and its expiry is cancelled.
        let reopened = status == ConversationStatus::Resolved;
        if reopened {
            let c = &mut record.conversation;
            c.status = ConversationStatus::Queued;
            c.queued_at = new.now;
            c.ended_at = None;
            c.end_reason = None;
            let rank = inbox_rank(&self.sla, c.card_tier, new.now);
            let tier = c.tier;
            s.ended.retain(|(_, e)| e != id);
            s.inboxes[tier_index(tier)].insert((rank, id.clone()));
        }
        let Some(record) = s.conversations.get_mut(id) else {
            return Err(StoreError::NoConversation);
        };
        // ... and is masked anew, announced in seq order before the new entry.
        for r in &new.redact {
            if let Some(e) = record.transcript.get_mut((r.seq - 1) as usize) {
                e.text = r.entry.text.clone();
                self.announce(
                    record.audiences(),
                    Event::Redact {
                        conversation: id.clone(),
                        seq: r.seq,
                        text: r.entry.text.clone(),
                    },
                );
            }
        }
        let seq = record.transcript.len() as Seq + 1;
        let first_from_author = !record.transcript.iter().any(|e| e.from == new.author);
        let entry = Entry {
            seq,
            from: new.author,
            text: new.text,
            at: rfc3339(new.now),
            id: new.client_id,
        };
        record.transcript.push(entry.clone());
        record.text_bytes += charge.unwrap_or(0);
        record.conversation.last_seq = seq;
        record.conversation.last_at = Some(new.now);
        if let Some(k) = key {
            record.client_ids.insert(k, seq);
        }
        self.announce(
            record.audiences(),
            Event::Msg {
                conversation: id.clone(),
                entry: entry.clone(),
            },
        );
        let notified = self.queue_notification(s, id, &cardholder, new.author, new.now);
        Ok(Appended {
            entry,
            duplicate: false,
            cardholder,
            agent,
            status,
            first_from_author,
            notified,
            reopened,
        })
    }

    /// Queues a notification of an entry of `author` for the cardholder
    /// when configured, the author's entries notify and the cardholder is
    /// not connected; true when queued.
    fn queue_notification(
        &self,
        s: &mut State,
        id: &ConversationId,
        cardholder: &UserId,
        author: Author,
        now: Millis,
    ) -> bool {
        let (Some(notifying), Some(event)) = (self.notifying, notify_event(author)) else {
            return false;
        };
        if s.is_present(Side::Cardholder, cardholder) {
            return false;
        }
        let n = Notification {
            id: new_notification_id(),
            event: event.to_string(),
            sub: cardholder.clone(),
            conversation: id.clone(),
            at: now,
            attempts: 0,
        };
        s.notices.queue(n, notifying.pending_ms)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; the state is still
        // consistent per call, so keep serving rather than poisoning the hub.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Stores a new conversation under a fresh id; returns it.
    fn insert_new(
        &mut self,
        id: ConversationId,
        new: NewConversation,
        kind: ConversationKind,
        status: ConversationStatus,
    ) -> Conversation {
        self.counter = self.counter.wrapping_add(1);
        let ranks = QueueRanks::new(queue_score(new.now, self.counter), &new.boosts);
        let conversation = Conversation {
            id: id.clone(),
            cardholder: new.cardholder,
            cardholder_name: new.name,
            card_tier: new.tier,
            tier: new.tier,
            topic: new.topic,
            status,
            agent: None,
            agent_name: None,
            created_at: new.now,
            queued_at: new.now,
            last_seq: 0,
            phone_last4: new.phone_last4,
            ended_at: None,
            end_reason: None,
            history: new.history,
            kind,
            last_at: None,
            read_seq: 0,
            transfers: Vec::new(),
            notes: Vec::new(),
            rating: None,
        };
        self.conversations.insert(
            id,
            Record {
                conversation: conversation.clone(),
                ranks,
                transcript: Vec::new(),
                text_bytes: 0,
                client_ids: HashMap::new(),
                callback: None,
                monitors: BTreeMap::new(),
            },
        );
        conversation
    }

    /// A conversation's record, or `NoConversation`.
    fn record_mut(&mut self, id: &ConversationId) -> StoreResult<&mut Record> {
        self.conversations
            .get_mut(id)
            .ok_or(StoreError::NoConversation)
    }

    /// Queues `id` in `tier` with `rank`: in the tier's away line while its
    /// cardholder is in a grace period.
    fn enqueue(&mut self, id: &ConversationId, tier: Tier, rank: QueueRank) {
        let away = self.conversations.get(id).is_some_and(|r| {
            self.graces
                .contains_key(&(Side::Cardholder, r.conversation.cardholder.clone()))
        });
        self.queues[tier_index(tier)].insert(id, rank, away);
    }

    fn dequeue(&mut self, id: &ConversationId) {
        for q in &mut self.queues {
            q.remove(id);
        }
        for inbox in &mut self.inboxes {
            inbox.retain(|(_, c)| c != id);
        }
    }

    /// The cardholder's queued chat moves to its tier's away line (`away`)
    /// or back.
    fn set_away(&mut self, cardholder: &UserId, away: bool) {
        let Some(c) = self
            .open
            .get(cardholder)
            .and_then(|id| self.conversations.get(id))
            .map(|r| &r.conversation)
            .filter(|c| c.status == ConversationStatus::Queued)
        else {
            return;
        };
        let (id, tier) = (c.id.clone(), c.tier);
        self.queues[tier_index(tier)].set_away(&id, away);
    }

    fn release_agent(&mut self, agent: &UserId, id: &ConversationId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active.remove(id);
            a.threads.remove(id);
        }
    }

    /// Puts a thread (back) into its tier team's inbox, unclaimed.
    fn put_in_inbox(
        &mut self,
        id: &ConversationId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
        rank: i64,
    ) {
        let Some(record) = self.conversations.get_mut(id) else {
            return;
        };
        record.back_to_wait(tier, note, now);
        self.inboxes[tier_index(tier)].insert((rank, id.clone()));
    }

    fn is_present(&self, side: Side, user: &UserId) -> bool {
        self.presence
            .get(&(side, user.clone()))
            .copied()
            .unwrap_or(0)
            > 0
    }

    fn requeue_at_head(
        &mut self,
        id: &ConversationId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
    ) -> Option<Conversation> {
        let record = self.conversations.get_mut(id)?;
        let rank = record.ranks.returning(tier);
        record.back_to_wait(tier, note, now);
        let conversation = record.conversation.clone();
        self.enqueue(id, tier, rank);
        Some(conversation)
    }

    /// Ends a conversation; it is forgotten at `forget_at`.
    fn end(
        &mut self,
        id: &ConversationId,
        reason: EndReason,
        now: Millis,
        forget_at: Millis,
    ) -> Option<Conversation> {
        let record = self.conversations.get_mut(id)?;
        if record.conversation.status == ConversationStatus::Ended {
            return None;
        }
        let previous = record.conversation.status;
        record.conversation.status = ConversationStatus::Ended;
        record.conversation.ended_at = Some(now);
        record.conversation.end_reason = Some(reason);
        let conversation = record.conversation.clone();
        self.ended.insert((forget_at, id.clone()));
        // Its cardholder's grace period is over with it (as in the Redis engine).
        self.clear_grace(&(Side::Cardholder, conversation.cardholder.clone()));
        if self.open.get(&conversation.cardholder) == Some(id) {
            self.open.remove(&conversation.cardholder);
        }
        match previous {
            ConversationStatus::Queued => self.dequeue(id),
            ConversationStatus::Active => {
                if let Some(agent) = &conversation.agent {
                    self.release_agent(agent, id);
                }
            }
            ConversationStatus::Ended | ConversationStatus::Resolved => {}
        }
        Some(conversation)
    }

    /// Starts (or moves) a user's grace period.
    fn set_grace(&mut self, key: (Side, UserId), deadline: Millis) {
        self.clear_grace(&key);
        self.grace_order.insert((deadline, key.0, key.1.clone()));
        self.graces.insert(key, deadline);
    }

    /// Cancels a user's grace period, if any.
    fn clear_grace(&mut self, key: &(Side, UserId)) {
        if let Some(deadline) = self.graces.remove(key) {
            self.grace_order.remove(&(deadline, key.0, key.1.clone()));
        }
    }

    /// Takes the grace periods due by `now`, earliest first.
    fn take_due_graces(&mut self, now: Millis) -> Vec<(Side, UserId)> {
        let mut due = Vec::new();
        while let Some((deadline, side, user)) = self.grace_order.first().cloned() {
            if deadline > now {
                break;
            }
            self.grace_order.pop_first();
            self.graces.remove(&(side, user.clone()));
            due.push((side, user));
        }
        due
    }

    /// Indexes a new open callback request.
    fn index_request(&mut self, r: &CallbackRequest) {
        let key = (desk_rank(r.tier, r.created_at), r.reference.clone());
        self.open_request
            .insert((r.sub.clone(), r.desk), r.reference.clone());
        self.desk_requests
            .entry(r.desk)
            .or_default()
            .insert(key.clone());
        self.requests_of
            .entry(r.sub.clone())
            .or_default()
            .insert(key);
    }

    /// Takes a closed callback request out of the open indexes.
    fn unindex_request(&mut self, r: &CallbackRequest) {
        let key = (desk_rank(r.tier, r.created_at), r.reference.clone());
        let open_key = (r.sub.clone(), r.desk);
        if self.open_request.get(&open_key) == Some(&r.reference) {
            self.open_request.remove(&open_key);
        }
        if let Some(set) = self.desk_requests.get_mut(&r.desk) {
            set.remove(&key);
            if set.is_empty() {
                self.desk_requests.remove(&r.desk);
            }
        }
        if let Some(set) = self.requests_of.get_mut(&r.sub) {
            set.remove(&key);
            if set.is_empty() {
                self.requests_of.remove(&r.sub);
            }
        }
    }

    /// The requests an index names, in its order.
    fn requests_in(&self, index: Option<&BTreeSet<(i64, CallbackRef)>>) -> Vec<CallbackRequest> {
        index
            .into_iter()
            .flatten()
            .filter_map(|(_, reference)| self.callbacks.get(reference).cloned())
            .collect()
    }

    /// Drops what ended or closed longer than the retention ago.
    fn forget_expired(&mut self, now: Millis) {
        while let Some((at, id)) = self.ended.first().cloned() {
            if at > now {
                break;
            }
            self.ended.pop_first();
            if let Some(r) = self.conversations.remove(&id) {
                let sub = &r.conversation.cardholder;
                if let Some(set) = self.threads.get_mut(sub) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.threads.remove(sub);
                    }
                }
            }
        }
        while let Some((at, reference)) = self.closed.first().cloned() {
            if at > now {
                break;
            }
            self.closed.pop_first();
            self.callbacks.remove(&reference);
        }
    }

    /// The best agent for a tier: fewest active chats, then idle longest.
    fn best_agent(&self, tier: Tier) -> Option<UserId> {
        self.agents
            .values()
            .filter(|a| a.has_free_slot() && a.serves(tier))
            .min_by_key(|a| {
                (
                    availability_score(a.active.len(), a.idle_since),
                    a.profile.sub.clone(),
                )
            })
            .map(|a| a.profile.sub.clone())
    }

    /// The user's last connection closed: an agent goes away (its chats get
    /// a grace period); a cardholder's queue place, or active chat, gets one.
    /// Returns the active chat whose agent must hear the cardholder is away.
    fn went_offline(
        &mut self,
        side: Side,
        user: &UserId,
        now: Millis,
        deadline: Millis,
    ) -> Option<(ConversationId, UserId)> {
        match side {
            Side::Agent => {
                let agent = self.agents.get_mut(user)?;
                agent.set_state(AgentState::Away, now);
                if !agent.active.is_empty() {
                    self.set_grace((side, user.clone()), deadline);
                }
                None
            }
            Side::Supervisor => None,
            Side::Cardholder => {
                let c = &self.conversations.get(self.open.get(user)?)?.conversation;
                let chat = match (c.status, &c.agent) {
                    (ConversationStatus::Queued, _) => None,
                    (ConversationStatus::Active, Some(agent)) => {
                        Some((c.id.clone(), agent.clone()))
                    }
                    _ => return None,
                };
                self.set_grace((side, user.clone()), deadline);
                self.set_away(user, true);
                chat
            }
        }
    }

    /// The active chat of a cardholder and its agent, if any.
    fn active_chat_of(&self, cardholder: &UserId) -> Option<(ConversationId, UserId)> {
        let c = &self
            .conversations
            .get(self.open.get(cardholder)?)?
            .conversation;
        match (c.status, &c.agent) {
            (ConversationStatus::Active, Some(agent)) => Some((c.id.clone(), agent.clone())),
            _ => None,
        }
    }
}

/// Whether `agent` closed `r` at `since` or later.
fn closed_by_since(r: &CallbackRequest, agent: &UserId, since: Millis) -> bool {
    r.closed_at().is_some_and(|at| at >= since)
        && r.history.last().and_then(|a| a.by.as_ref()) == Some(agent)
}

/// Both sides of a conversation: its cardholder and, when served, its agent.
fn both_sides(c: &Conversation) -> Vec<Audience> {
    let mut to = vec![Audience::Cardholder(c.cardholder.clone())];
    to.extend(c.agent.clone().map(Audience::Agent));
    to
}

/// Whether `sender` may write as `author` in the conversation: a
/// cardholder only in their own, an agent only in one it holds, the hub
/// (no sender) as `system` only.
fn may_write(c: &Conversation, author: Author, sender: Option<&UserId>) -> bool {
    match (author, sender) {
        (Author::Cardholder, Some(s)) => *s == c.cardholder,
        (Author::Agent, Some(s)) => c.agent.as_ref() == Some(s),
        (Author::System, None) => true,
        _ => false,
    }
}

/// A system message entry.
fn system_entry(text: String, now: Millis) -> NewEntry {
    NewEntry {
        author: Author::System,
        sender: None,
        text,
        client_id: None,
        now,
        redact: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TierBoosts, Topic};

    const T: Millis = 1_800_000_000_000;

    async fn open(s: &MemoryStore, who: &str, now: Millis) -> ConversationId {
        s.open_conversation(NewConversation {
            cardholder: UserId(who.into()),
            name: None,
            tier: Tier::Standard,
            topic: Topic::General,
            enqueue: true,
            phone_last4: None,
            history: Vec::new(),
            boosts: TierBoosts::default(),
            now,
        })
        .await
        .expect("open")
        .conversation
        .id
    }

    fn request(who: &str, desk: Desk, tier: Tier, now: Millis) -> NewCallback {
        NewCallback {
            desk,
            sub: UserId(who.into()),
            tier,
            name: None,
            cause: super::super::Cause::Topic {
                topic: crate::domain::Topic::LockedAccount,
            },
            conversation: ConversationId(format!("c-{who}")),
            phone_last4: None,
            now,
        }
    }

    #[tokio::test]
    async fn an_ended_conversation_is_forgotten_after_the_retention_exactly() {
        let s = MemoryStore::new().retaining(1_000);
        let id = open(&s, "a", T).await;
        let live = open(&s, "b", T).await;
        s.end(&id, None, EndReason::CardholderLeft, T + 10)
            .await
            .expect("end");
        s.forget_expired(T + 1_009);
        assert!(s.conversation(&id).await.expect("read").is_some());
        s.forget_expired(T + 1_010);
        assert!(s.conversation(&id).await.expect("read").is_none());
        assert!(s.conversation(&live).await.expect("read").is_some());
        let st = s.lock();
        assert!(st.ended.is_empty() && st.open.len() == 1);
    }

    #[tokio::test]
    async fn a_closed_request_leaves_the_indexes_then_the_store() {
        let s = MemoryStore::new().retaining(1_000);
        let agent = UserId("d1".into());
        let (old, _) = s
            .request_callback(request("a", Desk::Fraud, Tier::Standard, T))
            .await
            .expect("request");
        let (premium, _) = s
            .request_callback(request("b", Desk::Fraud, Tier::Premium, T + 5))
            .await
            .expect("request");
        let (again, created) = s
            .request_callback(request("a", Desk::Fraud, Tier::Standard, T + 9))
            .await
            .expect("request");
        assert_eq!(
            (again.reference.clone(), created),
            (old.reference.clone(), false)
        );
        let refs = |l: Vec<CallbackRequest>| l.into_iter().map(|r| r.reference).collect::<Vec<_>>();
        assert_eq!(
            refs(s.callbacks(Desk::Fraud).await.expect("list")),
            vec![premium.reference.clone(), old.reference.clone()]
        );
        s.claim_callback(&old.reference, &agent, &[Desk::Fraud], T + 10)
            .await
            .expect("claim");
        s.complete_callback(
            &old.reference,
            &agent,
            CallbackOutcome::Reached,
            None,
            T + 10,
        )
        .await
        .expect("complete");
        assert_eq!(
            refs(s.callbacks(Desk::Fraud).await.expect("list")),
            vec![premium.reference.clone()]
        );
        assert!(s
            .callbacks_of(&UserId("a".into()))
            .await
            .expect("list")
            .is_empty());
        assert!(matches!(
            s.claim_callback(&old.reference, &agent, &[Desk::Fraud], T + 10)
                .await,
            Err(StoreError::NotAllowed)
        ));
        let (fresh, created) = s
            .request_callback(request("a", Desk::Fraud, Tier::Standard, T + 20))
            .await
            .expect("request");
        assert!(created && fresh.reference != old.reference);
        s.forget_expired(T + 1_010);
        assert!(matches!(
            s.claim_callback(&old.reference, &agent, &[Desk::Fraud], T + 10)
                .await,
            Err(StoreError::NoConversation)
        ));
        let st = s.lock();
        assert!(st.closed.is_empty() && st.callbacks.len() == 2);
        assert_eq!(st.requests_of.len(), 2);
    }

    #[tokio::test]
    async fn graces_expire_by_deadline_and_reconnecting_cancels() {
        let s = MemoryStore::new();
        let (a, b) = (UserId("a".into()), UserId("b".into()));
        open(&s, "a", T).await;
        open(&s, "b", T).await;
        for who in [&a, &b] {
            s.presence_up(who, Side::Cardholder, T).await.expect("up");
        }
        s.presence_down(&a, Side::Cardholder, T, 100)
            .await
            .expect("down");
        s.presence_down(&b, Side::Cardholder, T, 50)
            .await
            .expect("down");
        assert!(s.expire_graces(T + 49).await.expect("tick").is_empty());
        s.presence_up(&a, Side::Cardholder, T).await.expect("back");
        let out = s.expire_graces(T + 100).await.expect("tick");
        assert!(matches!(&out[..], [GraceOutcome::Abandoned(c)] if c.cardholder == b));
        let st = s.lock();
        assert!(st.graces.is_empty() && st.grace_order.is_empty());
    }
}
