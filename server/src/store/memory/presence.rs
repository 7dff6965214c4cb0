//! The memory engine's presence: connections, grace periods, nodes.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Presence for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn presence_up(&self, user: &UserId, side: Side, _now: Millis) -> StoreResult<()> {
        let mut s = self.lock();
        let was_present = s.is_present(side, user);
        *s.presence.entry((side, user.clone())).or_insert(0) += 1;
        s.clear_grace(&(side, user.clone()));
        if side == Side::Cardholder {
            s.set_away(user, false);
        }
        if side == Side::Cardholder && !was_present {
            s.notices.came_online(user);
            if let Some((id, agent)) = s.active_chat_of(user) {
                self.announce_presence(&agent, &id, CardholderPresence::Online);
            }
        }
        Ok(())
    }

    async fn presence_down(
        &self,
        user: &UserId,
        side: Side,
        now: Millis,
        grace_ms: Millis,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let key = (side, user.clone());
        let left = match s.presence.get_mut(&key) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            s.presence.remove(&key);
            if let Some((id, agent)) = s.went_offline(side, user, now, now + grace_ms) {
                self.announce_presence(&agent, &id, CardholderPresence::Away);
            }
        }
        Ok(())
    }

    async fn expire_graces(&self, now: Millis) -> StoreResult<Vec<GraceOutcome>> {
        let mut s = self.lock();
        s.forget_expired(now);
        let due = s.take_due_graces(now);
        let mut out = Vec::new();
        for (side, user) in due {
            if s.is_present(side, &user) {
                continue;
            }
            match side {
                Side::Supervisor => {}
                Side::Cardholder => {
                    if let Some((id, agent)) = s.active_chat_of(&user) {
                        self.announce_presence(&agent, &id, CardholderPresence::Gone);
                        continue;
                    }
                    let Some(id) = s.open.get(&user).cloned() else {
                        continue;
                    };
                    let queued = s
                        .conversations
                        .get(&id)
                        .is_some_and(|r| r.conversation.status == ConversationStatus::Queued);
                    if queued {
                        if let Some(c) = self.finish(&mut s, &id, EndReason::Abandoned, now) {
                            out.push(GraceOutcome::Abandoned(c));
                        }
                    }
                }
                Side::Agent => {
                    let ids: Vec<ConversationId> = match s.agents.get_mut(&user) {
                        Some(a) => std::mem::take(&mut a.active).into_iter().collect(),
                        None => continue,
                    };
                    for id in ids {
                        let tier = match s.conversations.get(&id) {
                            Some(r) if r.conversation.status == ConversationStatus::Active => {
                                r.conversation.tier
                            }
                            _ => continue,
                        };
                        if let Some(conversation) = s.requeue_at_head(&id, tier, None, now) {
                            self.announce(
                                vec![Audience::Agent(user.clone())],
                                Event::Ended {
                                    conversation: id.clone(),
                                    reason: EndReason::Transferred,
                                },
                            );
                            out.push(GraceOutcome::Requeued {
                                conversation,
                                agent: user.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn heartbeat(&self, _now: Millis, _sweep: &Sweep) -> StoreResult<Beat> {
        // One process, one node: nobody else can die with our users, and
        // the store lives exactly as long as the node.
        Ok(Beat {
            epoch: MEMORY_EPOCH.to_owned(),
            told: Vec::new(),
            revived: false,
        })
    }
}
