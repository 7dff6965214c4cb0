//! The memory engine's transcripts: appending entries, reading them back.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Transcripts for MemoryStore {
    async fn append(&self, id: &ConversationId, new: NewEntry) -> StoreResult<Appended> {
        let mut s = self.lock();
        self.append_locked(&mut s, id, new)
    }

    async fn recent_entries(
        &self,
        id: &ConversationId,
        author: Author,
        since: Millis,
    ) -> StoreResult<Vec<Entry>> {
        let s = self.lock();
        let Some(record) = s.conversations.get(id) else {
            return Ok(Vec::new());
        };
        let tail = record
            .transcript
            .len()
            .saturating_sub(crate::store::RECENT_TAIL);
        Ok(crate::store::recent_of(
            &record.transcript[tail..],
            author,
            since,
        ))
    }

    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        let s = self.lock();
        let record = s.conversations.get(id).ok_or(StoreError::NoConversation)?;
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(record.transcript.len());
        Ok(record.transcript[start..]
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }
}
