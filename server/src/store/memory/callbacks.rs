//! The memory engine's callback requests: requesting, escalating, desks, claims, outcomes.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Callbacks for MemoryStore {
    async fn request_callback(&self, new: NewCallback) -> StoreResult<(CallbackRequest, bool)> {
        let mut s = self.lock();
        if let Some(open) = s
            .open_request
            .get(&(new.sub.clone(), new.desk))
            .and_then(|reference| s.callbacks.get(reference))
        {
            return Ok((open.clone(), false));
        }
        let mut reference = new_callback_ref(new.desk);
        while s.callbacks.contains_key(&reference) {
            reference = new_callback_ref(new.desk);
        }
        let request = CallbackRequest {
            reference: reference.clone(),
            desk: new.desk,
            sub: new.sub,
            name: new.name,
            tier: new.tier,
            reason: new.cause.describe(new.desk),
            cause: Some(new.cause),
            conversation: new.conversation,
            created_at: new.now,
            status: CallbackStatus::Requested,
            attempts: 0,
            claimed_by: None,
            phone_last4: new.phone_last4,
            history: Vec::new(),
        };
        s.index_request(&request);
        s.callbacks.insert(reference, request.clone());
        Ok((request, true))
    }

    async fn callbacks(&self, desk: Desk) -> StoreResult<Vec<CallbackRequest>> {
        let s = self.lock();
        Ok(s.requests_in(s.desk_requests.get(&desk)))
    }

    async fn callbacks_of(&self, sub: &UserId) -> StoreResult<Vec<CallbackRequest>> {
        let s = self.lock();
        Ok(s.requests_in(s.requests_of.get(sub)))
    }

    async fn escalate(
        &self,
        id: &ConversationId,
        request: &CallbackRequest,
        message: String,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let mut s = self.lock();
        let open = s
            .conversations
            .get(id)
            .is_some_and(|r| r.conversation.status != ConversationStatus::Ended);
        if !open {
            return Ok(None);
        }
        self.follow_scope(&mut s, id, Team::Desk(request.desk));
        self.append_locked(&mut s, id, system_entry(message, now))?;
        let cardholder = Audience::Cardholder(request.sub.clone());
        self.announce(
            vec![cardholder],
            Event::Escalated {
                conversation: id.clone(),
                request: Box::new(request.clone()),
            },
        );
        if let Some(record) = s.conversations.get_mut(id) {
            record.callback = Some(request.reference.clone());
        }
        Ok(self.finish(&mut s, id, EndReason::Escalated, now))
    }

    async fn claim_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        desks: &[Desk],
        _now: Millis,
    ) -> StoreResult<CallbackRequest> {
        let mut s = self.lock();
        let r = s
            .callbacks
            .get_mut(reference)
            .filter(|r| desks.contains(&r.desk))
            .ok_or(StoreError::NoConversation)?;
        if !matches!(
            r.status,
            CallbackStatus::Requested | CallbackStatus::NoAnswer
        ) {
            return Err(StoreError::NotAllowed);
        }
        r.status = CallbackStatus::Claimed;
        r.claimed_by = Some(agent.clone());
        Ok(r.clone())
    }

    async fn complete_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        outcome: CallbackOutcome,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<CallbackRequest> {
        let mut s = self.lock();
        let r = s
            .callbacks
            .get_mut(reference)
            .ok_or(StoreError::NoConversation)?;
        if r.status != CallbackStatus::Claimed || r.claimed_by.as_ref() != Some(agent) {
            return Err(StoreError::NotAllowed);
        }
        // Same clock as the Redis engine's script call.
        *r = after_outcome(r, outcome, agent, note, now);
        let done = r.clone();
        if !done.status.is_open() {
            s.unindex_request(&done);
            s.closed.insert((now + self.retention, reference.clone()));
            if let Some(archive) = &self.archive {
                archive.keep_callback(ArchivedCallback {
                    request: done.clone(),
                    closed_at: now,
                });
            }
        }
        Ok(done)
    }

    async fn closed_by(&self, agent: &UserId, since: Millis) -> StoreResult<Vec<CallbackRequest>> {
        let s = self.lock();
        let mut done: Vec<CallbackRequest> = s
            .callbacks
            .values()
            .filter(|r| closed_by_since(r, agent, since))
            .cloned()
            .collect();
        done.sort_by_key(|r| std::cmp::Reverse(r.closed_at()));
        Ok(done)
    }
}
