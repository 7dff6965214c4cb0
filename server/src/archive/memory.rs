//! The embedded engine's archive: ended conversations and closed requests
//! kept in this process (one node, `--dev`), served exactly as the
//! PostgreSQL archive serves them. Nothing survives a restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Archive, ArchiveResult, Export, ExportedCallback, ExportedConversation};
use crate::domain::archive::{ArchivedCallback, ArchivedConversation};
use crate::domain::conversation::{Entry, Summary};
use crate::domain::{CallbackRef, ConversationId, Millis, Seq, UserId};

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

    /// Keeps an ended conversation (once: a second call changes nothing
    /// but a rating the kept one lacks).
    pub fn keep_conversation(&self, c: ArchivedConversation) {
        let mut k = self.lock();
        let id = c.conversation.id.clone();
        if let Some(kept) = k.conversations.get_mut(&id) {
            if kept.conversation.kind == crate::domain::ConversationKind::Message {
                // A thread resolved again after a reopen: its latest state,
                // with the rating it was given.
                let rating = kept.conversation.rating.take();
                *kept = c;
                if kept.conversation.rating.is_none() {
                    kept.conversation.rating = rating;
                }
            } else if kept.conversation.rating.is_none() {
                kept.conversation.rating = c.conversation.rating;
            }
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

    /// The embedded engine keeps its last supervisor actions itself
    /// (`Store::recent_audit`); nothing more is kept in memory.
    async fn put_audit(&self, _: &str, _: &crate::domain::audit::AuditEntry) -> ArchiveResult<()> {
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
                .map(|c| ExportedConversation::of(c.clone()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::Conversation;
    use crate::domain::{ConversationStatus, EndReason, Tier, Topic};

    fn ended(id: &str, sub: &str, started: Millis, ended: Millis) -> ArchivedConversation {
        ArchivedConversation {
            conversation: Conversation {
                id: ConversationId(id.into()),
                cardholder: UserId(sub.into()),
                cardholder_name: None,
                card_tier: Tier::Standard,
                tier: Tier::Standard,
                topic: Topic::Billing,
                status: ConversationStatus::Ended,
                agent: None,
                agent_name: None,
                created_at: started,
                queued_at: started,
                last_seq: 0,
                phone_last4: None,
                ended_at: Some(ended),
                end_reason: Some(EndReason::CardholderLeft),
                history: Vec::new(),
                kind: crate::domain::ConversationKind::Chat,
                last_at: None,
                read_seq: 0,
                transfers: Vec::new(),
                notes: Vec::new(),
                rating: None,
            },
            callback: None,
            entries: Vec::new(),
        }
    }

    fn ids(list: &[Summary]) -> Vec<&str> {
        list.iter().map(|s| s.id.as_str()).collect()
    }

    #[tokio::test]
    async fn history_pages_newest_first_and_stays_with_its_owner() {
        let a = MemoryArchive::new();
        for (id, at) in [("c1", 10), ("c2", 20), ("c3", 30)] {
            a.keep_conversation(ended(id, "ann", at, at + 5));
        }
        a.keep_conversation(ended("c1", "ann", 99, 99));
        a.keep_conversation(ended("b1", "bob", 15, 16));
        let ann = UserId("ann".into());
        let page = a.history(&ann, None, 2).await.expect("history");
        assert_eq!(ids(&page), ["c3", "c2"]);
        let before = ConversationId("c2".into());
        let rest = a.history(&ann, Some(&before), 2).await.expect("history");
        assert_eq!(ids(&rest), ["c1"], "older than c2; c1 kept once");
        let theirs = ConversationId("b1".into());
        assert!(a
            .history(&ann, Some(&theirs), 2)
            .await
            .expect("history")
            .is_empty());
        assert_eq!(
            a.owner(&theirs).await.expect("owner"),
            Some(UserId("bob".into()))
        );
    }

    #[test]
    fn a_second_hand_over_only_adds_a_missing_rating() {
        use crate::domain::conversation::Rating;
        let a = MemoryArchive::new();
        a.keep_conversation(ended("r1", "ann", 10, 20));
        let rating = |score| Rating {
            score,
            comment: None,
            at: 30,
        };
        let mut rated = ended("r1", "ann", 10, 20);
        rated.conversation.rating = Some(rating(4));
        rated.conversation.agent_name = Some("changed".into());
        a.keep_conversation(rated.clone());
        rated.conversation.rating = Some(rating(1));
        a.keep_conversation(rated);
        let kept = &a.lock().conversations[&ConversationId("r1".into())];
        assert_eq!(
            kept.conversation.rating,
            Some(rating(4)),
            "the first rating stays"
        );
        assert_eq!(kept.conversation.agent_name, None, "nothing else changes");
    }

    #[tokio::test]
    async fn purge_removes_only_what_ended_before_the_cutoff() {
        let a = MemoryArchive::new();
        a.keep_conversation(ended("old", "ann", 10, 20));
        a.keep_conversation(ended("young", "ann", 30, 40));
        assert_eq!(a.purge(30).await.expect("purge"), 1);
        let ann = UserId("ann".into());
        assert_eq!(
            ids(&a.history(&ann, None, 10).await.expect("history")),
            ["young"]
        );
        assert_eq!(a.purge(30).await.expect("purge"), 0);
    }
}
