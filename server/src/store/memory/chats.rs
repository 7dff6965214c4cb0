//! The memory engine's routing and live chats: opening, routing, ending, transferring, agents, queues.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Chats for MemoryStore {
    async fn open_conversation(&self, new: NewConversation) -> StoreResult<Opened> {
        let mut s = self.lock();
        s.forget_expired(new.now);
        if let Some(id) = s.open.get(&new.cardholder) {
            if let Some(r) = s.conversations.get(id) {
                return Ok(Opened {
                    conversation: r.conversation.clone(),
                    created: false,
                });
            }
        }
        let status = if new.enqueue {
            ConversationStatus::Queued
        } else {
            ConversationStatus::Active
        };
        let (cardholder, tier, enqueue) = (new.cardholder.clone(), new.tier, new.enqueue);
        let conversation = s.insert_new(
            ConversationId::generate(),
            new,
            ConversationKind::Chat,
            status,
        );
        let id = conversation.id.clone();
        s.open.insert(cardholder, id.clone());
        if enqueue {
            if let Some(rank) = s.conversations.get(&id).map(|r| r.ranks.waiting(tier)) {
                s.enqueue(&id, tier, rank);
            }
        }
        Ok(Opened {
            conversation,
            created: true,
        })
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        Ok(self
            .lock()
            .conversations
            .get(id)
            .map(|r| r.conversation.clone()))
    }

    async fn open_conversation_of(&self, cardholder: &UserId) -> StoreResult<Option<Conversation>> {
        let s = self.lock();
        Ok(s.open
            .get(cardholder)
            .and_then(|id| s.conversations.get(id))
            .map(|r| r.conversation.clone()))
    }

    async fn end(
        &self,
        id: &ConversationId,
        by_agent: Option<&UserId>,
        reason: EndReason,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let mut s = self.lock();
        let Some(record) = s.conversations.get(id) else {
            return Err(StoreError::NoConversation);
        };
        if let Some(agent) = by_agent {
            if record.conversation.agent.as_ref() != Some(agent) {
                return Err(StoreError::NoConversation);
            }
        }
        Ok(self.finish(&mut s, id, reason, now))
    }

    async fn transfer(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let mut s = self.lock();
        let holds = s.conversations.get(id).is_some_and(|r| {
            r.conversation.status == ConversationStatus::Active
                && r.conversation.agent.as_ref() == Some(agent)
        });
        if !holds {
            return Err(StoreError::NoConversation);
        }
        self.follow_scope(&mut s, id, Team::Tier(tier));
        s.release_agent(agent, id);
        let thread = s
            .conversations
            .get(id)
            .filter(|r| r.conversation.kind == ConversationKind::Message)
            .map(|r| r.conversation.card_tier);
        if let Some(card_tier) = thread {
            s.put_in_inbox(
                id,
                tier,
                note.clone(),
                now,
                inbox_rank(&self.sla, card_tier, now),
            );
        }
        let c = if thread.is_some() {
            s.conversations.get(id).map(|r| r.conversation.clone())
        } else {
            s.requeue_at_head(id, tier, note, now)
        }
        .ok_or(StoreError::NoConversation)?;
        self.announce(
            vec![Audience::Agent(agent.clone())],
            Event::Ended {
                conversation: id.clone(),
                reason: EndReason::Transferred,
            },
        );
        Ok(c)
    }

    async fn rate(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        rating: Rating,
    ) -> StoreResult<Conversation> {
        let mut s = self.lock();
        let record = s.record_mut(id)?;
        let c = &mut record.conversation;
        if &c.cardholder != cardholder
            || c.status != ConversationStatus::Ended
            || c.rating.is_some()
        {
            return Err(StoreError::NotAllowed);
        }
        c.rating = Some(rating);
        let rated = c.clone();
        self.hand_over(record);
        Ok(rated)
    }

    async fn add_note(&self, id: &ConversationId, note: Note) -> StoreResult<Conversation> {
        let mut s = self.lock();
        let record = s.record_mut(id)?;
        let c = &mut record.conversation;
        if c.status != ConversationStatus::Active || c.agent.as_ref() != Some(&note.by) {
            return Err(StoreError::NoConversation);
        }
        if c.notes.len() >= MAX_NOTES {
            return Err(StoreError::NotAllowed);
        }
        c.notes.push(note.clone());
        let noted = c.clone();
        let mut to = vec![Audience::Agent(note.by.clone())];
        to.extend(record.monitoring());
        self.announce(
            to,
            Event::Note {
                conversation: id.clone(),
                note,
            },
        );
        Ok(noted)
    }

    async fn register_agent(
        &self,
        profile: &AgentProfile,
        now: Millis,
    ) -> StoreResult<AgentSnapshot> {
        let mut s = self.lock();
        let agent = s
            .agents
            .entry(profile.sub.clone())
            .or_insert_with(|| AgentRecord {
                profile: profile.clone(),
                state: AgentState::Away,
                active: BTreeSet::new(),
                threads: BTreeSet::new(),
                idle_since: now,
                state_since: now,
            });
        agent.profile = profile.clone();
        let state = agent.state;
        let ids: Vec<ConversationId> = agent.active.iter().chain(&agent.threads).cloned().collect();
        let active: Vec<Conversation> = ids
            .iter()
            .filter_map(|id| s.conversations.get(id).map(|r| r.conversation.clone()))
            .collect();
        let presence = active
            .iter()
            .map(|c| {
                let key = (Side::Cardholder, c.cardholder.clone());
                if s.is_present(key.0, &key.1) {
                    CardholderPresence::Online
                } else if s.graces.contains_key(&key) {
                    CardholderPresence::Away
                } else {
                    CardholderPresence::Gone
                }
            })
            .collect();
        Ok(AgentSnapshot {
            state,
            active,
            presence,
        })
    }

    async fn set_agent_state(
        &self,
        agent: &UserId,
        state: AgentState,
        now: Millis,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let a = s.agents.get_mut(agent).ok_or(StoreError::NotAllowed)?;
        a.set_state(state, now);
        Ok(())
    }

    async fn route(&self, now: Millis) -> StoreResult<Vec<Assignment>> {
        let mut s = self.lock();
        let mut out = Vec::new();
        while out.len() < ROUTE_BATCH {
            // The head of each tier queue that some agent can take, lowest rank first.
            let pick = Tier::ALL
                .iter()
                .filter_map(|&tier| {
                    let agent = s.best_agent(tier)?;
                    let (rank, id) = s.queues[tier_index(tier)].head()?;
                    Some((rank, tier, id.clone(), agent))
                })
                .min_by_key(|(rank, ..)| *rank);
            let Some((_, tier, id, agent_id)) = pick else {
                break;
            };
            s.queues[tier_index(tier)].remove(&id);
            let Some(agent) = s.agents.get_mut(&agent_id) else {
                break;
            };
            agent.active.insert(id.clone());
            agent.idle_since = now;
            let agent_name = agent.profile.name.clone();
            let Some(record) = s.conversations.get_mut(&id) else {
                continue;
            };
            let c = &mut record.conversation;
            c.status = ConversationStatus::Active;
            c.agent = Some(agent_id);
            c.agent_name = Some(agent_name);
            let waited_ms = now - c.queued_at;
            let conversation = c.clone();
            self.announce_assigned(record, waited_ms);
            if let (true, Some(agent)) = (
                s.graces
                    .contains_key(&(Side::Cardholder, conversation.cardholder.clone())),
                &conversation.agent,
            ) {
                self.announce_presence(agent, &conversation.id, CardholderPresence::Away);
            }
            let waits = &mut s.waits[tier_index(tier)];
            waits.push_front(waited_ms);
            waits.truncate(RECENT_WAITS);
            out.push(Assignment {
                conversation,
                waited_ms,
            });
        }
        Ok(out)
    }

    async fn queue_standing(
        &self,
        id: &ConversationId,
        tier: Tier,
    ) -> StoreResult<Option<QueueStanding>> {
        let s = self.lock();
        let q = &s.queues[tier_index(tier)];
        let Some(position) = q.position(id) else {
            return Ok(None);
        };
        let waits: Vec<Millis> = s.waits[tier_index(tier)].iter().copied().collect();
        Ok(Some(QueueStanding {
            position,
            depth: q.len() as u64,
            recent_wait_ms: average_wait(&waits),
        }))
    }

    async fn queue_snapshot(&self, tier: Tier) -> StoreResult<QueueSnapshot> {
        let s = self.lock();
        let places = s.queues[tier_index(tier)]
            .in_order()
            .into_iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let r = s.conversations.get(id)?;
                Some(QueuePlace {
                    conversation: id.clone(),
                    cardholder: r.conversation.cardholder.clone(),
                    position: i as u64 + 1,
                    queued_at: r.conversation.queued_at,
                })
            })
            .collect();
        let waits: Vec<Millis> = s.waits[tier_index(tier)].iter().copied().collect();
        Ok(QueueSnapshot {
            places,
            recent_wait_ms: average_wait(&waits),
        })
    }

    async fn agents_online(&self, team: Team) -> StoreResult<u64> {
        let s = self.lock();
        Ok(s.agents
            .values()
            .filter(|a| {
                a.profile.teams.contains(&team) && s.is_present(Side::Agent, &a.profile.sub)
            })
            .count() as u64)
    }

    async fn queue_stats(&self, now: Millis) -> StoreResult<Vec<QueueView>> {
        let s = self.lock();
        Ok(Tier::ALL
            .iter()
            .map(|&tier| {
                let q = &s.queues[tier_index(tier)];
                let oldest = q
                    .ids()
                    .filter_map(|id| s.conversations.get(id))
                    .map(|r| r.conversation.queued_at)
                    .min();
                QueueView {
                    tier,
                    waiting: q.len() as u64,
                    oldest_wait_s: oldest.map_or(0, |t| ((now - t).max(0) / 1000) as u64),
                }
            })
            .collect())
    }
}
