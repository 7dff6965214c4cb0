//! The embedded engine's archive: ended conversations and closed requests
//! kept in this process (one node, `--dev`), served exactly as the
//! PostgreSQL archive serves them. Nothing survives a restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    Archive, ArchiveResult, ArchivedCallback, ArchivedConversation, Export, ExportedCallback,
    ExportedConversation, Summary,
};
use crate::domain::{CallbackRef, ConversationId, Millis, Seq, UserId};
use crate::protocol::Entry;

/// The in-memory archive; the memory engine writes to it inside its own
/// critical section (see [`MemoryArchive::keep_conversation`]).
#[derive(Debug, Default)]
pub struct MemoryArchive {
    state: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    conversations: HashMap<ConversationId, ArchivedConversation>,
    /// Each cardholder's conversations by (started_at, id): history order.
    of: HashMap<UserId, BTreeSet<(Millis, ConversationId)>>,
    callbacks: HashMap<(CallbackRef, Millis), ArchivedCallback>,
}

impl MemoryArchive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an ended conversation (once: a second call changes nothing).
    pub fn keep_conversation(&self, c: ArchivedConversation) {
        let mut k = self.lock();
        let id = c.conversation.id.clone();
        if k.conversations.contains_key(&id) {
            return;
        }
        k.of.entry(c.conversation.cardholder.clone())
            .or_default()
            .insert((c.conversation.created_at, id.clone()));
        k.conversations.insert(id, c);
    }

    /// Keeps a closed callback request (once).
    pub fn keep_callback(&self, r: ArchivedCallback) {
        let key = (r.request.reference.clone(), r.request.created_at);
        self.lock().callbacks.entry(key).or_insert(r);
    }
}

#[async_trait]
impl Archive for MemoryArchive {
    async fn put_conversation(&self, c: &ArchivedConversation) -> ArchiveResult<()> {
        self.keep_conversation(c.clone());
        Ok(())
    }

    async fn put_callback(&self, r: &ArchivedCallback) -> ArchiveResult<()> {
        self.keep_callback(r.clone());
        Ok(())
    }

    async fn history(
        &self,
        sub: &UserId,
        before: Option<&ConversationId>,
        limit: usize,
    ) -> ArchiveResult<Vec<Summary>> {
        let k = self.lock();
        let Some(mine) = k.of.get(sub) else {
            return Ok(Vec::new());
        };
        let bound = match before {
            Some(id) => match k.conversations.get(id) {
                Some(c) if &c.conversation.cardholder == sub => {
                    Some((c.conversation.created_at, id.clone()))
                }
                _ => return Ok(Vec::new()),
            },
            None => None,
        };
        Ok(mine
            .iter()
            .rev()
            .filter(|key| bound.as_ref().is_none_or(|b| *key < b))
            .take(limit)
            .filter_map(|(_, id)| k.conversations.get(id).map(ArchivedConversation::summary))
            .collect())
    }

    async fn owner(&self, id: &ConversationId) -> ArchiveResult<Option<UserId>> {
        Ok(self
            .lock()
            .conversations
            .get(id)
            .map(|c| c.conversation.cardholder.clone()))
    }

    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> ArchiveResult<Vec<Entry>> {
        Ok(self
            .lock()
            .conversations
            .get(id)
            .map(|c| {
                c.entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn export(&self, sub: &UserId) -> ArchiveResult<Export> {
        let k = self.lock();
        let conversations =
            k.of.get(sub)
                .into_iter()
                .flatten()
                .filter_map(|(_, id)| k.conversations.get(id))
                .map(|c| ExportedConversation::of(c.clone(), None))
                .collect();
        let mut callbacks: Vec<&ArchivedCallback> = k
            .callbacks
            .values()
            .filter(|r| &r.request.sub == sub)
            .collect();
        callbacks.sort_by_key(|r| (r.request.created_at, r.request.reference.clone()));
        Ok(Export {
            sub: sub.clone(),
            conversations,
            callbacks: callbacks
                .into_iter()
                .map(|r| ExportedCallback::of(r.clone()))
                .collect(),
        })
    }

    async fn purge(&self, cutoff: Millis) -> ArchiveResult<u64> {
        let mut k = self.lock();
        let old: Vec<ConversationId> = k
            .conversations
            .values()
            .filter(|c| c.conversation.ended_at.unwrap_or(0) < cutoff)
            .map(|c| c.conversation.id.clone())
            .collect();
        for id in &old {
            if let Some(c) = k.conversations.remove(id) {
                let sub = c.conversation.cardholder;
                if let Some(set) = k.of.get_mut(&sub) {
                    set.remove(&(c.conversation.created_at, id.clone()));
                    if set.is_empty() {
                        k.of.remove(&sub);
                    }
                }
            }
        }
        let before = k.callbacks.len();
        k.callbacks.retain(|_, r| r.closed_at >= cutoff);
        Ok((old.len() + before - k.callbacks.len()) as u64)
    }
}
