//! The memory engine's secure-message threads: opening, inboxes, claims, resolving, read marks.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Threads for MemoryStore {
    async fn open_thread(&self, new: NewConversation, id: ConversationId) -> StoreResult<Opened> {
        let mut s = self.lock();
        s.forget_expired(new.now);
        if let Some(r) = s.conversations.get(&id) {
            let c = &r.conversation;
            if c.cardholder != new.cardholder || c.kind != ConversationKind::Message {
                return Err(StoreError::NotAllowed);
            }
            return Ok(Opened {
                conversation: c.clone(),
                created: false,
            });
        }
        let open = s.threads.get(&new.cardholder).map_or(0, |ids| {
            ids.iter()
                .filter_map(|id| s.conversations.get(id))
                .filter(|r| {
                    matches!(
                        r.conversation.status,
                        ConversationStatus::Queued | ConversationStatus::Active
                    )
                })
                .count()
        });
        if open >= MAX_OPEN_THREADS {
            return Err(StoreError::NotAllowed);
        }
        let rank = inbox_rank(&self.sla, new.tier, new.now);
        let (cardholder, tier) = (new.cardholder.clone(), new.tier);
        let conversation = s.insert_new(
            id,
            new,
            ConversationKind::Message,
            ConversationStatus::Queued,
        );
        let id = conversation.id.clone();
        s.threads.entry(cardholder).or_default().insert(id.clone());
        s.inboxes[tier_index(tier)].insert((rank, id));
        Ok(Opened {
            conversation,
            created: true,
        })
    }

    async fn threads_of(&self, cardholder: &UserId) -> StoreResult<Vec<Conversation>> {
        let s = self.lock();
        let mut list: Vec<Conversation> = s
            .threads
            .get(cardholder)
            .into_iter()
            .flatten()
            .filter_map(|id| s.conversations.get(id))
            .map(|r| r.conversation.clone())
            .collect();
        list.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(list)
    }

    async fn inbox_stats(&self) -> StoreResult<Vec<crate::store::InboxOverview>> {
        let s = self.lock();
        Ok(Tier::ALL
            .iter()
            .map(|&tier| {
                let inbox = &s.inboxes[tier_index(tier)];
                crate::store::InboxOverview {
                    tier,
                    depth: inbox.len() as u64,
                    oldest_queued_at: inbox
                        .iter()
                        .take(crate::store::INBOX_PAGE)
                        .filter_map(|(_, id)| s.conversations.get(id))
                        .map(|r| r.conversation.queued_at)
                        .min(),
                }
            })
            .collect())
    }

    async fn inbox(&self, team: Tier) -> StoreResult<Vec<Conversation>> {
        let s = self.lock();
        Ok(s.inboxes[tier_index(team)]
            .iter()
            .take(crate::store::INBOX_PAGE)
            .filter_map(|(_, id)| s.conversations.get(id))
            .map(|r| r.conversation.clone())
            .collect())
    }

    async fn claim_thread(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tiers: &[Tier],
        now: Millis,
    ) -> StoreResult<Assignment> {
        let mut s = self.lock();
        let c = s
            .conversations
            .get(id)
            .map(|r| &r.conversation)
            .filter(|c| c.kind == ConversationKind::Message && tiers.contains(&c.tier))
            .ok_or(StoreError::NoConversation)?;
        if c.status != ConversationStatus::Queued {
            return Err(StoreError::NotAllowed);
        }
        let tier = c.tier;
        let name = match s.agents.get_mut(agent) {
            Some(a) => {
                a.threads.insert(id.clone());
                a.profile.name.clone()
            }
            None => return Err(StoreError::NotAllowed),
        };
        s.inboxes[tier_index(tier)].retain(|(_, c)| c != id);
        let Some(record) = s.conversations.get_mut(id) else {
            return Err(StoreError::NoConversation);
        };
        let c = &mut record.conversation;
        c.status = ConversationStatus::Active;
        c.agent = Some(agent.clone());
        c.agent_name = Some(name);
        let waited_ms = now - c.queued_at;
        let conversation = c.clone();
        self.announce_assigned(record, waited_ms);
        Ok(Assignment {
            conversation,
            waited_ms,
        })
    }

    async fn resolve(
        &self,
        id: &ConversationId,
        agent: &UserId,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let mut s = self.lock();
        let record = s
            .conversations
            .get_mut(id)
            .filter(|r| {
                let c = &r.conversation;
                c.kind == ConversationKind::Message
                    && c.status == ConversationStatus::Active
                    && c.agent.as_ref() == Some(agent)
            })
            .ok_or(StoreError::NoConversation)?;
        let to = record.audiences();
        let c = &mut record.conversation;
        c.status = ConversationStatus::Resolved;
        c.agent = None;
        c.ended_at = Some(now);
        c.end_reason = Some(EndReason::Resolved);
        let conversation = c.clone();
        self.hand_over(record);
        s.release_agent(agent, id);
        s.ended.insert((now + self.retention, id.clone()));
        self.announce(
            to,
            Event::Ended {
                conversation: id.clone(),
                reason: EndReason::Resolved,
            },
        );
        Ok(conversation)
    }

    async fn mark_read(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        seq: Seq,
        _now: Millis,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let c = s
            .conversations
            .get_mut(id)
            .map(|r| &mut r.conversation)
            .filter(|c| c.cardholder == *cardholder && c.status != ConversationStatus::Ended)
            .ok_or(StoreError::NoConversation)?;
        c.read_seq = c.read_seq.max(seq.min(c.last_seq));
        Ok(())
    }
}
