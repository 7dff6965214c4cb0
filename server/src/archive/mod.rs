//! The durable archive of ended conversations and closed callback requests,
//! and the history read from it.
//!
//! [`Archive`] is what the hub needs: store an ended conversation or a
//! closed request (idempotently: the same one twice is stored once), list a
//! cardholder's past conversations newest first, page through one's
//! transcript, export everything about one cardholder, and purge what is
//! older than the retention. Two implementations share it:
//! - [`postgres::PgArchive`] (`--archive-url`): PostgreSQL, fed by the
//!   [`crate::archiver`] from the Redis archive stream;
//! - [`memory::MemoryArchive`]: the embedded engine's history, fed directly
//!   by [`crate::store::memory::MemoryStore`] when a conversation ends.
//!
//! With Redis and no `--archive-url` there is no archive ([`NoArchive`]):
//! ended conversations expire after `--hot-retention` and history is empty.

pub mod memory;
pub mod postgres;

use std::fmt::Debug;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::archive::{ArchivedCallback, ArchivedConversation};
use crate::domain::conversation::{Entry, Summary, Transfer};
use crate::domain::{CallbackRef, ConversationId, EndReason, Millis, Seq, Tier, Topic, UserId};

/// How many earlier conversations `assigned` shows an agent (SPEC: five).
pub const ASSIGNED_HISTORY: usize = 5;

/// `--archive-retention-days`' default (SPEC: seven years).
pub const DEFAULT_RETENTION_DAYS: u64 = 2555;

/// Most rows one purge statement deletes, so no statement holds locks for long.
pub const PURGE_BATCH: i64 = 1000;

/// Why an archive call failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive database cannot be reached or refused the statement.
    #[error("the archive is unavailable: {0}")]
    Unavailable(String),
}

/// Shorthand for archive results.
pub type ArchiveResult<T> = Result<T, ArchiveError>;

/// One cardholder's archived data (right of access), as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// The cardholder.
    pub sub: UserId,
    /// Their conversations, oldest first.
    pub conversations: Vec<ExportedConversation>,
    /// Their closed callback requests, oldest first.
    pub callbacks: Vec<ExportedCallback>,
}

/// A conversation in an [`Export`]; times are RFC 3339.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedConversation {
    /// Id.
    pub id: ConversationId,
    /// `chat` or `message`.
    pub kind: &'static str,
    /// Card tier.
    pub card_tier: Tier,
    /// Queue served from.
    pub tier: Tier,
    /// Topic.
    pub topic: Topic,
    /// Opened.
    pub started_at: String,
    /// Last queued.
    pub queued_at: String,
    /// Ended.
    pub ended_at: String,
    /// Why it ended.
    pub end_reason: EndReason,
    /// Last agent.
    pub agent: Option<UserId>,
    /// Last agent's name.
    pub agent_name: Option<String>,
    /// Hand-overs between agents.
    pub transfers: Vec<Transfer>,
    /// The callback request it became.
    pub callback: Option<CallbackRef>,
    /// The cardholder's rating, when given.
    pub rating: Option<crate::domain::conversation::Rating>,
    /// Internal notes (staff only).
    pub notes: Vec<crate::domain::conversation::Note>,
    /// The masked transcript.
    pub transcript: Vec<Entry>,
}

/// A callback request in an [`Export`].
#[derive(Debug, Clone, Serialize)]
pub struct ExportedCallback {
    /// Reference.
    #[serde(rename = "ref")]
    pub reference: CallbackRef,
    /// Desk.
    pub desk: crate::domain::Desk,
    /// Conversation it came from.
    pub conversation: ConversationId,
    /// Why.
    pub reason: String,
    /// Final status.
    pub status: crate::domain::CallbackStatus,
    /// Calls made.
    pub attempts: u32,
    /// Calls, oldest first.
    pub history: Vec<crate::domain::callback::Attempt>,
    /// Requested (RFC 3339).
    pub created_at: String,
    /// Closed (RFC 3339).
    pub closed_at: String,
}

impl ExportedConversation {
    /// The export form of an archived conversation.
    pub fn of(a: ArchivedConversation) -> Self {
        use crate::domain::rfc3339;
        let summary = a.summary();
        let c = a.conversation;
        ExportedConversation {
            id: c.id,
            kind: c.kind.as_str(),
            card_tier: c.card_tier,
            tier: c.tier,
            topic: c.topic,
            started_at: rfc3339(c.created_at),
            queued_at: rfc3339(c.queued_at),
            ended_at: rfc3339(summary.ended_at),
            end_reason: summary.end_reason,
            agent: c.agent,
            agent_name: c.agent_name,
            transfers: c.transfers,
            callback: a.callback,
            rating: c.rating,
            notes: c.notes,
            transcript: a.entries,
        }
    }
}

impl ExportedCallback {
    /// The export form of an archived request.
    pub fn of(a: ArchivedCallback) -> Self {
        use crate::domain::rfc3339;
        let r = a.request;
        ExportedCallback {
            reference: r.reference,
            desk: r.desk,
            conversation: r.conversation,
            reason: r.reason,
            status: r.status,
            attempts: r.attempts,
            history: r.history,
            created_at: rfc3339(r.created_at),
            closed_at: rfc3339(a.closed_at),
        }
    }
}

/// The archive: writes are idempotent, reads never cross cardholders (the
/// hub checks ownership with [`Archive::owner`] before it reads a transcript).
#[async_trait]
pub trait Archive: Send + Sync + Debug + 'static {
    /// Stores an ended conversation once; a second call changes nothing but
    /// a rating the stored one lacks (a rating given after archiving).
    async fn put_conversation(&self, c: &ArchivedConversation) -> ArchiveResult<()>;

    /// Stores a closed callback request once.
    async fn put_callback(&self, r: &ArchivedCallback) -> ArchiveResult<()>;

    /// Stores a supervisor action once (`key`: its archive stream entry, so
    /// a retried write is not stored twice).
    async fn put_audit(
        &self,
        key: &str,
        entry: &crate::domain::audit::AuditEntry,
    ) -> ArchiveResult<()>;

    /// The cardholder's past conversations, newest first, older than
    /// `before` (a conversation id from an earlier page) when given; at most
    /// `limit`.
    async fn history(
        &self,
        sub: &UserId,
        before: Option<&ConversationId>,
        limit: usize,
    ) -> ArchiveResult<Vec<Summary>>;

    /// Whose archived conversation this is (`None`: not archived).
    async fn owner(&self, id: &ConversationId) -> ArchiveResult<Option<UserId>>;

    /// Archived entries with seq > `after`, at most `limit`.
    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> ArchiveResult<Vec<Entry>>;

    /// Everything archived about one cardholder.
    async fn export(&self, sub: &UserId) -> ArchiveResult<Export>;

    /// Deletes conversations that ended and requests that closed before
    /// `cutoff` (ms), in bounded batches; returns how many went.
    async fn purge(&self, cutoff: Millis) -> ArchiveResult<u64>;
}

/// No archive (Redis without `--archive-url`): nothing is kept past the hot
/// retention, so history is empty.
#[derive(Debug, Default)]
pub struct NoArchive;

#[async_trait]
impl Archive for NoArchive {
    async fn put_conversation(&self, _: &ArchivedConversation) -> ArchiveResult<()> {
        Ok(())
    }
    async fn put_callback(&self, _: &ArchivedCallback) -> ArchiveResult<()> {
        Ok(())
    }
    async fn put_audit(&self, _: &str, _: &crate::domain::audit::AuditEntry) -> ArchiveResult<()> {
        Ok(())
    }
    async fn history(
        &self,
        _: &UserId,
        _: Option<&ConversationId>,
        _: usize,
    ) -> ArchiveResult<Vec<Summary>> {
        Ok(Vec::new())
    }
    async fn owner(&self, _: &ConversationId) -> ArchiveResult<Option<UserId>> {
        Ok(None)
    }
    async fn transcript(&self, _: &ConversationId, _: Seq, _: usize) -> ArchiveResult<Vec<Entry>> {
        Ok(Vec::new())
    }
    async fn export(&self, sub: &UserId) -> ArchiveResult<Export> {
        Ok(Export {
            sub: sub.clone(),
            conversations: Vec::new(),
            callbacks: Vec::new(),
        })
    }
    async fn purge(&self, _: Millis) -> ArchiveResult<u64> {
        Ok(0)
    }
}

/// The purge cutoff for a retention in days, at `now` (ms).
pub fn retention_cutoff(now: Millis, days: u64) -> Millis {
    let days = i64::try_from(days).unwrap_or(i64::MAX / 86_400_000);
    now.saturating_sub(days.saturating_mul(86_400_000))
}
