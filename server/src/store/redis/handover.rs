//! The Redis side of archiving: the archive stream (`<prefix>:archive`).
//!
//! The scripts that end a conversation or close a callback request append
//! it to the stream (`hand_over` in `prelude.lua`) when an archive is
//! configured. Archivers on every node read it with one consumer group
//! ([`ARCHIVE_GROUP`], consumer = node id): [`RedisStore::take_handovers`]
//! returns this node's own pending entries first, then entries idle in a
//! dead node's pending list (XAUTOCLAIM), then new ones, each with its
//! record; once the archive committed them, [`RedisStore::handed_over`]
//! expires their keys after the hot retention and acknowledges and deletes
//! their entries in one script. Nothing expires before it is archived.
//!
//! A conversation's transcript is not copied by the step that takes it
//! (that would hold Redis for as long as the copy takes): the step says how
//! many entries it holds, and the archiver reads them after it, in pages of
//! [`TRANSCRIPT_READ_PAGE`] (`LRANGE`, one short command each). An ended
//! conversation's transcript no longer changes (no script writes to an
//! ended conversation) and it does not expire before `handed_over`, so the
//! pages read are the transcript the step saw. (A resolved thread that its
//! cardholder reopens meanwhile may have more entries than counted; it is
//! handed over again at its next resolution.)

use serde::Deserialize;

use super::replies::{self, decode, lua_list, Fields};
use super::RedisStore;
use crate::domain::archive::{ArchivedCallback, ArchivedConversation};
use crate::domain::audit::AuditEntry;
use crate::domain::Millis;
use crate::store::StoreResult;

/// Most transcript entries one read of a taken conversation asks for: with
/// `--max-transcript-bytes` (2 MB) a page is at most that much text, and
/// Redis answers one in well under a millisecond (docs/operations.md).
pub const TRANSCRIPT_READ_PAGE: u64 = 200;

/// The archivers' consumer group.
pub const ARCHIVE_GROUP: &str = "archivers";

/// One archive stream entry with the record it names, as taken.
#[derive(Debug, Clone, Deserialize)]
pub struct Handover {
    /// The stream entry id (`<ms>-<n>`).
    sid: String,
    /// `conv` or `cb`.
    kind: String,
    /// The conversation id or the callback reference.
    id: String,
    /// The record's hash (empty when the record is gone).
    #[serde(default)]
    record: Fields,
    /// How many transcript entries a conversation held when taken.
    #[serde(default)]
    count: u64,
    /// A conversation's stored entries, in seq order (read in pages after
    /// the step, by [`RedisStore::take_handovers`]).
    #[serde(skip)]
    entries: Vec<String>,
    /// A supervisor action's entry (JSON `AuditEntry`), kind `audit`.
    #[serde(default)]
    audit: Option<String>,
}

/// What a stream entry holds, decoded for the archive.
#[derive(Debug, Clone)]
pub enum Handed {
    /// An ended conversation.
    Conversation(Box<ArchivedConversation>),
    /// A closed callback request.
    Callback(Box<ArchivedCallback>),
    /// A supervisor action, with its stream entry id (its key in the archive).
    Audit(String, AuditEntry),
    /// Its record is no longer in Redis (Redis lost its data): nothing to archive.
    Gone,
}

/// A batch of stream entries and where the stream stands.
#[derive(Debug, Clone, Deserialize)]
pub struct HandoverBatch {
    /// The entries taken, each to archive then hand back.
    #[serde(deserialize_with = "lua_list")]
    pub items: Vec<Handover>,
    /// Entries not archived yet (pending and unread).
    pub backlog: u64,
    /// The oldest entry not archived yet ('' none).
    oldest: String,
}

/// The ms part of a stream entry id.
fn entry_ms(sid: &str) -> Option<Millis> {
    sid.split('-').next()?.parse().ok()
}

impl HandoverBatch {
    /// When the oldest entry not archived yet was appended (ms).
    pub fn oldest_ms(&self) -> Option<Millis> {
        entry_ms(&self.oldest)
    }
}

impl Handover {
    /// What to archive.
    pub fn decode(&self) -> StoreResult<Handed> {
        if let Some(entry) = &self.audit {
            return Ok(Handed::Audit(
                self.sid.clone(),
                decode(entry, "archived audit entry")?,
            ));
        }
        if self.record.is_empty() {
            return Ok(Handed::Gone);
        }
        Ok(match self.kind.as_str() {
            "conv" => Handed::Conversation(Box::new(ArchivedConversation {
                conversation: replies::conversation(&self.record)?,
                callback: replies::escalated_to(&self.record),
                entries: replies::entries_from(1, &self.entries)?,
            })),
            _ => Handed::Callback(Box::new(ArchivedCallback {
                request: replies::callback(&self.record)?,
                closed_at: entry_ms(&self.sid).unwrap_or(0),
            })),
        })
    }

    /// What the entry names, for logs.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.id)
    }
}

impl RedisStore {
    /// Takes up to `batch` archive stream entries for this node (see the
    /// module doc); entries idle `claim_idle_ms` in another node's pending
    /// list are taken over.
    pub async fn take_handovers(
        &self,
        batch: usize,
        claim_idle_ms: Millis,
        now: Millis,
    ) -> StoreResult<HandoverBatch> {
        let reply = self
            .run(
                &self.scripts.handover_take,
                now,
                vec![
                    ARCHIVE_GROUP.to_owned(),
                    self.node.to_string(),
                    batch.max(1).to_string(),
                    claim_idle_ms.max(0).to_string(),
                ],
            )
            .await?;
        let mut batch: HandoverBatch = decode(&reply, "handover_take")?;
        for h in &mut batch.items {
            if h.kind == "conv" && h.count > 0 {
                h.entries = self.transcript_pages(&h.id, h.count).await?;
            }
        }
        Ok(batch)
    }

    /// The first `count` stored entries of a conversation, read in pages of
    /// [`TRANSCRIPT_READ_PAGE`].
    async fn transcript_pages(&self, id: &str, count: u64) -> StoreResult<Vec<String>> {
        let key = self.key(&["tx", id]);
        let mut conn = self.conn();
        let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut from = 0;
        while from < count {
            let to = (from + TRANSCRIPT_READ_PAGE).min(count) - 1;
            let page: Vec<String> = redis::cmd("LRANGE")
                .arg(&key)
                .arg(from)
                .arg(to)
                .query_async(&mut conn)
                .await?;
            let got = page.len() as u64;
            entries.extend(page);
            if got < to - from + 1 {
                // Gone meanwhile (Redis lost its data): what was read.
                break;
            }
            from = to + 1;
        }
        Ok(entries)
    }

    /// The archive committed `done`: their keys expire after the hot
    /// retention, their entries are acknowledged and deleted.
    pub async fn handed_over(&self, done: &[&Handover], now: Millis) -> StoreResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut args = vec![ARCHIVE_GROUP.to_owned(), self.retention.to_string()];
        for h in done {
            args.extend([h.sid.clone(), h.kind.clone(), h.id.clone()]);
        }
        let reply = self.run(&self.scripts.handed_over, now, args).await?;
        let _: serde_json::Value = decode(&reply, "handed_over")?;
        Ok(())
    }
}
