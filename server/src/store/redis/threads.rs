//! The Redis engine's secure-message threads: opening, inboxes, claims, resolving, read marks.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Threads for RedisStore {
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

    async fn inbox_stats(&self) -> StoreResult<Vec<crate::store::InboxOverview>> {
        let mut args = argv!["stats", "", crate::store::INBOX_PAGE];
        args.extend(Tier::ALL.iter().map(ToString::to_string));
        let reply = self.run_read(&self.scripts.inbox_list, args).await?;
        let rows: Vec<StatsItem> = replies::decode_list(&reply, "inbox stats")?;
        rows.iter()
            .map(|row| {
                Ok(crate::store::InboxOverview {
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
