//! The Redis engine's callback requests: requesting, escalating, desks, claims, outcomes.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Callbacks for RedisStore {
    async fn request_callback(&self, new: NewCallback) -> StoreResult<(CallbackRequest, bool)> {
        loop {
            let reference = new_callback_ref(new.desk);
            let reply = self
                .run(
                    &self.scripts.request_callback,
                    new.now,
                    argv![
                        new.desk,
                        keys::encode(&new.sub),
                        new.tier,
                        new.cause.describe(new.desk),
                        new.conversation,
                        new.phone_last4.as_deref().unwrap_or(""),
                        reference,
                        desk_rank(new.tier, new.now),
                        new.name.as_deref().unwrap_or(""),
                        replies::encode_json(&new.cause, "cause")?
                    ],
                )
                .await?;
            let r: RequestReply = decode(&reply, "request callback")?;
            if !r.taken {
                return Ok((replies::callback(&r.request)?, r.created));
            }
        }
    }

    async fn callbacks(&self, desk: Desk) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(&self.scripts.list_callbacks, argv!["desk", desk])
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "callbacks")?;
        list.iter().map(replies::callback).collect()
    }

    async fn callbacks_of(&self, sub: &UserId) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(
                &self.scripts.list_callbacks,
                argv!["sub", keys::encode(sub)],
            )
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "callbacks")?;
        let mut list = list
            .iter()
            .map(replies::callback)
            .collect::<StoreResult<Vec<_>>>()?;
        list.sort_by_key(crate::store::desk_order);
        Ok(list)
    }

    async fn escalate(
        &self,
        id: &ConversationId,
        request: &CallbackRequest,
        message: String,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let entry = StoredEntry::encode(Author::System, &message, &rfc3339(now), None)?;
        let reply = self
            .run(
                &self.scripts.escalate,
                now,
                argv![
                    id,
                    request.reference,
                    entry,
                    EndReason::Escalated,
                    self.hand_over(),
                    request.desk
                ],
            )
            .await?;
        let r: EscalateReply = decode(&reply, "escalate")?;
        if !r.ended {
            return Ok(None);
        }
        replies::conversation(&r.conversation).map(Some)
    }

    async fn claim_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        desks: &[Desk],
        now: Millis,
    ) -> StoreResult<CallbackRequest> {
        let mut args = argv![reference, keys::encode(agent), CallbackStatus::Claimed];
        args.extend(desks.iter().map(ToString::to_string));
        let reply = self.run(&self.scripts.claim_callback, now, args).await?;
        desk_outcome(decode(&reply, "claim callback")?)
    }

    async fn complete_callback(
        &self,
        reference: &CallbackRef,
        agent: &UserId,
        outcome: CallbackOutcome,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<CallbackRequest> {
        // Rust decides the outcome; the script writes it only if the request
        // is still this agent's and unchanged since it was read.
        let current = self
            .fetch_callback(reference)
            .await?
            .ok_or(StoreError::NoConversation)?;
        if current.claimed_by.as_ref() != Some(agent) {
            return Err(StoreError::NotAllowed);
        }
        let next = after_outcome(&current, outcome, agent, note, now);
        let reply = self
            .run(
                &self.scripts.complete_callback,
                now,
                argv![
                    reference,
                    keys::encode(agent),
                    current.attempts,
                    next.status,
                    next.attempts,
                    replies::encode_json(&next.history, "history")?,
                    if next.status.is_open() { "1" } else { "0" },
                    self.hand_over(),
                    DONE_WINDOW_MS
                ],
            )
            .await?;
        desk_outcome(decode(&reply, "complete callback")?)
    }

    async fn closed_by(&self, agent: &UserId, since: Millis) -> StoreResult<Vec<CallbackRequest>> {
        let reply = self
            .run_read(
                &self.scripts.list_callbacks,
                argv!["done", keys::encode(agent), since],
            )
            .await?;
        let list: Vec<Fields> = replies::decode_list(&reply, "closed callbacks")?;
        list.iter().map(replies::callback).collect()
    }
}
