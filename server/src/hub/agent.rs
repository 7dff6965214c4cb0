//! What agents do: go available, talk, end, transfer, look at the queues.

use crate::auth::{Identity, Principal};
use crate::domain::callback::Cause;
use crate::domain::conversation::{Conversation, Note};
use crate::domain::{now_millis, AgentState, Author, ConversationId, EndReason, Tier};
use crate::events::{Audience, Event, View};
use crate::protocol::render::conversation_state;
use crate::protocol::{ClientFrame, ServerFrame, PROTOCOL_VERSION};
use crate::store::{AgentProfile, StoreError, MAX_NOTES};

use super::escalation::DeskAction;
use super::shared::resend_echo;
use super::{short_text, typed_text, CommandError, Hub, Replies};

impl Hub {
    /// Registers the agent and builds its `welcome`.
    pub(super) async fn agent_welcome(&self, identity: &Identity) -> Replies {
        let Principal::Agent { teams, max_chats } = &identity.principal else {
            return Err(CommandError::NotAllowed("not an agent".into()));
        };
        let profile = AgentProfile {
            sub: identity.sub.clone(),
            name: identity
                .name
                .clone()
                .unwrap_or_else(|| identity.sub.to_string()),
            teams: teams.clone(),
            max_chats: *max_chats,
        };
        let snapshot = self
            .store
            .register_agent(&profile, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        // Where each chat's cardholder stands now (changes follow as events).
        let presence = snapshot
            .active
            .iter()
            .zip(&snapshot.presence)
            .map(|(c, p)| ServerFrame::Presence {
                conversation: c.id.clone(),
                cardholder: *p,
            });
        let mut replies = vec![ServerFrame::Welcome {
            role: identity.role,
            sub: identity.sub.clone(),
            protocol: PROTOCOL_VERSION,
            conversation: None,
            teams: Some(teams.clone()),
            max_chats: Some(*max_chats),
            conversations: Some(
                snapshot
                    .active
                    .iter()
                    .map(|c| conversation_state(c, View::Staff))
                    .collect(),
            ),
            state: Some(snapshot.state),
            callbacks: None,
            canned: Some(self.settings().canned.for_teams(teams)),
            threads: None,
            message_reply_within_s: None,
            call_back_topics: None,
        }];
        replies.extend(presence);
        Ok(replies)
    }

    pub(super) async fn queues(&self) -> Replies {
        let queues = self
            .store
            .queue_stats(now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(vec![ServerFrame::Queues { queues }])
    }

    /// Carries out one agent frame.
    pub(super) async fn agent_command(&self, identity: &Identity, frame: ClientFrame) -> Replies {
        let me = &identity.sub;
        match frame {
            ClientFrame::Status { state } => {
                self.store
                    .set_agent_state(me, state, now_millis())
                    .await
                    .map_err(|e| self.store_failed(e))?;
                tracing::info!(state = %state, "agent availability");
                if state == AgentState::Available {
                    self.wake_router();
                }
                Ok(Vec::new())
            }
            ClientFrame::Say {
                conversation,
                id,
                text,
            } => {
                let conversation = required(conversation)?;
                // `id` is a `ClientKey`: parsed as the frame was read.
                let text = typed_text(text)?;
                // The store checks that this agent holds the conversation.
                let appended = self
                    .append(
                        &conversation,
                        Author::Agent,
                        Some(me),
                        text,
                        Some(id.into()),
                    )
                    .await?;
                if appended.first_from_author && !appended.duplicate {
                    self.first_reply(&conversation).await;
                }
                Ok(resend_echo(&conversation, appended))
            }
            ClientFrame::Typing { conversation, on } => {
                let c = self.held_by(me, &required(conversation)?).await?;
                let event = Event::Typing {
                    conversation: c.id,
                    from: Author::Agent,
                    on,
                };
                self.deliver(vec![Audience::Cardholder(c.cardholder)], event)
                    .await;
                Ok(Vec::new())
            }
            ClientFrame::Read { conversation, seq } => {
                let c = self.held_by(me, &required(conversation)?).await?;
                let event = Event::Read {
                    conversation: c.id.clone(),
                    from: Author::Agent,
                    seq: seq.min(c.last_seq),
                };
                let to = vec![
                    Audience::Cardholder(c.cardholder),
                    Audience::Agent(me.clone()),
                ];
                self.deliver(to, event).await;
                Ok(Vec::new())
            }
            ClientFrame::Sync {
                conversation,
                after,
            } => {
                let c = self.held_by(me, &required(conversation)?).await?;
                self.replay(&c.id, after).await
            }
            ClientFrame::End { conversation } => {
                let ended = self
                    .store
                    .end(&conversation, Some(me), EndReason::AgentEnded, now_millis())
                    .await
                    .map_err(|e| self.store_failed(e))?;
                // The store announced `ended` to both sides.
                if let Some(c) = ended {
                    tracing::info!(conversation = %c.id, "agent ended the chat");
                    self.wake_router();
                }
                Ok(Vec::new())
            }
            ClientFrame::Transfer {
                conversation,
                tier,
                note,
            } => {
                self.transfer(me, &conversation, tier, short_text(note)?)
                    .await
            }
            ClientFrame::Note { conversation, text } => {
                self.add_note(identity, &conversation, text).await
            }
            ClientFrame::Queues => self.queues().await,
            ClientFrame::Escalate {
                conversation,
                desk,
                note,
            } => {
                let c = self.held_by(me, &conversation).await?;
                let cause = Cause::Agent {
                    topic: c.topic,
                    note: short_text(note)?,
                };
                self.escalate(&c, desk, cause, "agent").await
            }
            ClientFrame::Callbacks { desk } => self.list_callbacks(identity, desk).await,
            ClientFrame::Inbox { team } => self.inbox_frame(identity, team).await,
            ClientFrame::ClaimMessage { conversation } => {
                self.claim_message(identity, &conversation).await
            }
            ClientFrame::Resolve { conversation } => self.resolve_thread(me, &conversation).await,
            ClientFrame::ClaimCallback { reference } => {
                self.work_callback(identity, &reference, DeskAction::Claim)
                    .await
            }
            ClientFrame::CompleteCallback {
                reference,
                outcome,
                note,
            } => {
                let action = DeskAction::Complete(outcome, short_text(note)?);
                self.work_callback(identity, &reference, action).await
            }
            ClientFrame::History {
                conversation,
                before,
                limit,
            } => self.history(identity, conversation, before, limit).await,
            ClientFrame::Transcript {
                conversation,
                after,
            } => self.past_transcript(identity, conversation, after).await,
            _ => Err(CommandError::NotAllowed(
                "agents cannot send this frame".into(),
            )),
        }
    }

    /// The conversation, if this agent holds it.
    async fn held_by(
        &self,
        agent: &crate::domain::UserId,
        id: &ConversationId,
    ) -> Result<Conversation, CommandError> {
        let c = self
            .store
            .conversation(id)
            .await
            .map_err(|e| self.store_failed(e))?
            .ok_or(CommandError::NoConversation)?;
        if c.agent.as_ref() != Some(agent) || c.status != crate::domain::ConversationStatus::Active
        {
            return Err(CommandError::NoConversation);
        }
        Ok(c)
    }

    async fn transfer(
        &self,
        me: &crate::domain::UserId,
        id: &ConversationId,
        tier: Tier,
        staff_note: Option<String>,
    ) -> Replies {
        let told = format!(
            "You're being transferred to our {tier} team. You're at the front of their queue; \
             the conversation so far stays with you."
        );
        self.move_to_queue(me, id, tier, &told, staff_note).await?;
        Ok(Vec::new())
    }

    /// `note`: an internal note on a chat this agent holds, for the staff
    /// who serve or monitor it (the store announces it to them).
    async fn add_note(&self, identity: &Identity, id: &ConversationId, text: String) -> Replies {
        let note = Note {
            at: now_millis(),
            by: identity.sub.clone(),
            by_name: identity
                .name
                .clone()
                .unwrap_or_else(|| identity.sub.to_string()),
            text: short_text(Some(text))?
                .ok_or_else(|| CommandError::BadField("`text` is empty".into()))?,
        };
        self.store.add_note(id, note).await.map_err(|e| match e {
            StoreError::NotAllowed => CommandError::NotAllowed(format!(
                "a conversation keeps at most {MAX_NOTES} internal notes"
            )),
            other => self.store_failed(other),
        })?;
        tracing::info!(conversation = %id, "internal note added");
        Ok(Vec::new())
    }

    /// Moves an active chat from the agent holding it to the head of `tier`'s
    /// queue (the store tells the agent `ended`, transferred), tells the
    /// cardholder `told` and its place, and wakes the router; `staff_note`
    /// goes with the chat to the next agent only.
    pub(super) async fn move_to_queue(
        &self,
        holder: &crate::domain::UserId,
        id: &ConversationId,
        tier: Tier,
        told: &str,
        staff_note: Option<String>,
    ) -> Result<(), CommandError> {
        let c = self
            .store
            .transfer(id, holder, tier, staff_note, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        tracing::info!(conversation = %c.id, to = %tier, "chat transferred");
        if c.kind == crate::domain::ConversationKind::Message {
            self.inbox_changed(&c, crate::domain::inbox::InboxChange::Added)
                .await;
        }
        self.system_message(&c.id, told).await?;
        self.tell_place(&c).await?;
        self.wake_router();
        Ok(())
    }
}

fn required(conversation: Option<ConversationId>) -> Result<ConversationId, CommandError> {
    conversation.ok_or_else(|| CommandError::BadField("agents must name the `conversation`".into()))
}
