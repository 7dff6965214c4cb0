//! The Redis engine's transcripts: appending entries, reading them back.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Transcripts for RedisStore {
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
            .run_read(&self.scripts.recent, argv![id, crate::store::RECENT_TAIL])
            .await?;
        let tail: replies::TailReply = decode(&reply, "recent")?;
        let entries = replies::entries_from(tail.first, &tail.entries)?;
        Ok(crate::store::recent_of(&entries, author, since))
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
}
