//! What cardholders do: open a chat, talk, read, resume, leave.

use crate::auth::{Identity, Principal};
use crate::classifier::desk_for_topic;
use crate::domain::callback::Cause;
use crate::domain::conversation::{Conversation, Rating};
use crate::domain::{
    now_millis, Author, ConversationId, ConversationKind, ConversationStatus, EndReason, Seq, Topic,
};
use crate::events::{Audience, Event, View};
use crate::metrics::RatingLabel;
use crate::protocol::render::{assigned_to_cardholder, conversation_state};
use crate::protocol::{ClientFrame, ServerFrame, PROTOCOL_VERSION, TRANSCRIPT_PAGE};
use crate::store::{Appended, NewConversation, StoreError, RATING_SCORES};

use super::shared::resend_echo;
use super::{short_text, typed_text, CommandError, Hub, Replies};

/// System message for `forgot_login`: self-service comes first.
pub const FORGOT_LOGIN_HELP: &str =
    "You can reset your login yourself in a minute: in the app or on the website, \
choose \"Forgot username or password?\" on the sign-in screen and follow the steps. \
An agent will still be with you shortly if you need more help.";

/// What a connection remembers between frames, to spare store lookups.
#[derive(Debug, Default)]
pub(super) struct Memo {
    /// The cardholder's open conversation as last seen. It may be stale (the
    /// chat ended elsewhere): the store refuses writes to an ended
    /// conversation, and the hub then looks the open one up again.
    pub conversation: Option<ConversationId>,
}

impl Hub {
    /// `welcome` for a cardholder, plus its place in the queue when waiting.
    pub(super) async fn cardholder_welcome(&self, identity: &Identity) -> Replies {
        let open = self
            .store
            .open_conversation_of(&identity.sub)
            .await
            .map_err(|e| self.store_failed(e))?;
        let mut replies = vec![ServerFrame::Welcome {
            role: identity.role,
            sub: identity.sub.clone(),
            protocol: PROTOCOL_VERSION,
            conversation: open
                .as_ref()
                .map(|c| conversation_state(c, View::Cardholder)),
            teams: None,
            max_chats: None,
            conversations: None,
            state: None,
            callbacks: Some(self.callbacks_for_welcome(&identity.sub).await?),
            canned: None,
            threads: Some(self.thread_views(&identity.sub).await?),
            message_reply_within_s: self.reply_within_s(identity),
            call_back_topics: Some(crate::classifier::call_back_topics()),
        }];
        if let Some(c) = open.filter(|c| c.status == ConversationStatus::Queued) {
            replies.extend(self.queued_frame(&c).await?);
        }
        Ok(replies)
    }

    /// Carries out one cardholder frame.
    pub(super) async fn cardholder_command(
        &self,
        identity: &Identity,
        frame: ClientFrame,
        memo: &mut Memo,
    ) -> Replies {
        if let Some(id) = super::messaging::named_conversation(&frame).cloned() {
            return self.cardholder_in_thread(identity, id, frame).await;
        }
        match frame {
            ClientFrame::Start {
                topic,
                text,
                mode: Some(ConversationKind::Message),
                id,
            } => self.start_thread(identity, topic, text, id).await,
            ClientFrame::Threads => self.threads_frame(identity).await,
            ClientFrame::Start { topic, text, .. } => {
                let (c, replies) = self.start(identity, topic, text).await?;
                memo.conversation = Some(c);
                Ok(replies)
            }
            ClientFrame::Say { id, text, .. } => {
                let text = typed_text(text)?;
                let (conversation, appended) = self.say(identity, memo, text, id.into()).await?;
                // Only the first message of a chat still waiting for an agent
                // goes through the lockout classifier.
                let first_words = !appended.duplicate
                    && appended.first_from_author
                    && appended.status == ConversationStatus::Queued;
                if first_words {
                    let c = self.store.conversation(&conversation).await;
                    if let Some(c) = c.map_err(|e| self.store_failed(e))? {
                        // The author's first entry: stored as typed (no
                        // earlier entry to mask it together with).
                        self.classify_first_message(&c, &appended.entry.text)
                            .await?;
                    }
                }
                Ok(resend_echo(&conversation, appended))
            }
            ClientFrame::Typing { on, .. } => {
                let c = self.open_of(identity, memo).await?;
                self.cardholder_typing(c, on).await
            }
            ClientFrame::Read { seq, .. } => {
                let c = self.open_of(identity, memo).await?;
                self.cardholder_read(c, seq).await
            }
            ClientFrame::Sync { after, .. } => {
                let c = self.open_of(identity, memo).await?;
                self.replay(&c.id, after).await
            }
            ClientFrame::Leave => self.leave(identity, memo).await,
            ClientFrame::CallMeBack => {
                let c = self.open_of(identity, memo).await?;
                self.call_me_back(c).await
            }
            ClientFrame::Rate {
                conversation,
                score,
                comment,
            } => self.rate(identity, conversation, score, comment).await,
            ClientFrame::History { before, limit, .. } => {
                self.history(identity, None, before, limit).await
            }
            ClientFrame::Transcript {
                conversation,
                after,
            } => self.past_transcript(identity, conversation, after).await,
            _ => Err(CommandError::NotAllowed(
                "cardholders cannot send this frame".into(),
            )),
        }
    }

    /// The cardholder's typing indicator, to the agent of `c` if it has one.
    pub(super) async fn cardholder_typing(&self, c: Conversation, on: bool) -> Replies {
        if let Some(agent) = c.agent {
            let event = Event::Typing {
                conversation: c.id,
                from: Author::Cardholder,
                on,
            };
            self.deliver(vec![Audience::Agent(agent)], event).await;
        }
        Ok(Vec::new())
    }

    /// The cardholder's read receipt (at most `c`'s last seq), to every
    /// connection of the cardholder and to the agent of `c`.
    pub(super) async fn cardholder_read(&self, c: Conversation, seq: Seq) -> Replies {
        let event = Event::Read {
            conversation: c.id.clone(),
            from: Author::Cardholder,
            seq: seq.min(c.last_seq),
        };
        let mut to = vec![Audience::Cardholder(c.cardholder)];
        to.extend(c.agent.map(Audience::Agent));
        self.deliver(to, event).await;
        Ok(Vec::new())
    }

    /// Stores a cardholder's message in its open conversation: one store
    /// call when the connection knows the conversation, two when it looks
    /// it up (first message, or the remembered one has ended).
    async fn say(
        &self,
        identity: &Identity,
        memo: &mut Memo,
        text: String,
        id: String,
    ) -> Result<(ConversationId, Appended), CommandError> {
        let me = Some(&identity.sub);
        if let Some(c) = memo.conversation.clone() {
            let result = self
                .append(
                    &c,
                    Author::Cardholder,
                    me,
                    // Kept for the look-up below, in case the remembered
                    // conversation has ended.
                    text.clone(),
                    Some(id.clone()),
                )
                .await;
            match result {
                Err(CommandError::NoConversation) => memo.conversation = None,
                other => {
                    let appended = other?;
                    return Ok((c, appended));
                }
            }
        }
        let c = self.open_of(identity, memo).await?.id;
        let appended = self
            .append(&c, Author::Cardholder, me, text, Some(id))
            .await?;
        Ok((c, appended))
    }

    /// The cardholder's open conversation: the remembered one while it is
    /// still open (one read), else looked up (and remembered).
    async fn open_of(
        &self,
        identity: &Identity,
        memo: &mut Memo,
    ) -> Result<Conversation, CommandError> {
        if let Some(id) = &memo.conversation {
            let known = self
                .store
                .conversation(id)
                .await
                .map_err(|e| self.store_failed(e))?;
            if let Some(c) = known.filter(|c| c.status != ConversationStatus::Ended) {
                return Ok(c);
            }
        }
        let c = self
            .store
            .open_conversation_of(&identity.sub)
            .await
            .map_err(|e| self.store_failed(e))?
            .ok_or(CommandError::NoConversation)?;
        memo.conversation = Some(c.id.clone());
        Ok(c)
    }

    /// Opens (or returns) the cardholder's conversation; its id and the replies.
    async fn start(
        &self,
        identity: &Identity,
        topic: Topic,
        text: Option<String>,
    ) -> Result<(ConversationId, Vec<ServerFrame>), CommandError> {
        let Principal::Cardholder { tier, phone_last4 } = &identity.principal else {
            return Err(CommandError::NotAllowed(
                "only cardholders start chats".into(),
            ));
        };
        let text = text.map(typed_text).transpose()?;
        let history = self.recent_history(&identity.sub).await;
        let opened = self
            .store
            .open_conversation(NewConversation {
                cardholder: identity.sub.clone(),
                name: identity.name.clone(),
                tier: *tier,
                topic,
                enqueue: desk_for_topic(topic).is_none(),
                phone_last4: phone_last4.clone(),
                history,
                boosts: self.settings.boosts,
                now: now_millis(),
            })
            .await
            .map_err(|e| self.store_failed(e))?;
        let c = opened.conversation;
        if !opened.created {
            return Ok((c.id.clone(), self.current_state(&c).await?));
        }
        let desk = desk_for_topic(topic);
        if desk.is_none() && topic == Topic::ForgotLogin {
            self.system_message(&c.id, FORGOT_LOGIN_HELP).await?;
        }
        if let Some(t) = &text {
            let me = Some(&identity.sub);
            self.append(&c.id, Author::Cardholder, me, t.clone(), None)
                .await?;
        }
        if let Some(desk) = desk {
            let replies = self
                .escalate(&c, desk, Cause::Topic { topic }, topic.as_str())
                .await?;
            return Ok((c.id, replies));
        }
        tracing::info!(conversation = %c.id, tier = %c.tier, topic = %topic, "conversation queued");
        if let Some(t) = text {
            if self.classify_first_message(&c, &t).await? {
                return Ok((c.id, Vec::new()));
            }
        }
        let replies = self.queued_frame(&c).await?;
        self.wake_router();
        Ok((c.id, replies))
    }

    /// Where an existing conversation stands, for an idempotent `start`.
    async fn current_state(&self, c: &Conversation) -> Replies {
        match c.status {
            ConversationStatus::Queued => self.queued_frame(c).await,
            ConversationStatus::Active => Ok(vec![assigned_to_cardholder(c)]),
            ConversationStatus::Ended | ConversationStatus::Resolved => Ok(Vec::new()),
        }
    }

    /// The conversation's current place as a `queued` event (none when it
    /// is no longer waiting, e.g. an agent took it already).
    async fn place(&self, c: &Conversation) -> Result<Option<Event>, CommandError> {
        let standing = self
            .store
            .queue_standing(&c.id, c.tier)
            .await
            .map_err(|e| self.store_failed(e))?;
        let Some(standing) = standing else {
            return Ok(None);
        };
        let team = self
            .team_now(c.tier, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        let event = Event::Queued {
            conversation: c.id.clone(),
            tier: c.tier,
            position: standing.position,
            eta_s: standing.eta_seconds(),
            availability: team.availability(c.queued_at, self.settings.offer_message_after),
        };
        let mut sent = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        sent.insert(c.id.clone(), (event.clone(), std::time::Instant::now()));
        Ok(Some(event))
    }

    /// A `queued` frame for the calling cardholder.
    pub(super) async fn queued_frame(&self, c: &Conversation) -> Replies {
        let place = self.place(c).await?;
        Ok(place
            .and_then(|e| e.frame_for(View::Cardholder))
            .into_iter()
            .collect())
    }

    /// Tells every connection of the cardholder its place in the queue.
    pub(super) async fn tell_place(&self, c: &Conversation) -> Result<(), CommandError> {
        if let Some(event) = self.place(c).await? {
            let to = vec![Audience::Cardholder(c.cardholder.clone())];
            self.deliver(to, event).await;
        }
        Ok(())
    }

    /// One page of transcript entries after `after`, for this connection
    /// only; `more` tells the client to ask again.
    pub(super) async fn replay(&self, id: &ConversationId, after: Seq) -> Replies {
        // One entry past the page says whether there is more.
        let mut entries = self
            .store
            .transcript(id, after, TRANSCRIPT_PAGE + 1)
            .await
            .map_err(|e| self.store_failed(e))?;
        let more = entries.len() > TRANSCRIPT_PAGE;
        entries.truncate(TRANSCRIPT_PAGE);
        Ok(vec![ServerFrame::Transcript {
            conversation: id.clone(),
            entries,
            more,
        }])
    }

    /// `rate`: the cardholder's rating of one of its ended conversations,
    /// once; counted in `/metrics` and kept with the record (and archived).
    async fn rate(
        &self,
        identity: &Identity,
        id: ConversationId,
        score: u8,
        comment: Option<String>,
    ) -> Replies {
        if !RATING_SCORES.contains(&score) {
            return Err(CommandError::BadField(
                "`score` must be a whole number from 1 to 5".into(),
            ));
        }
        let rating = Rating {
            score,
            comment: short_text(comment)?,
            at: now_millis(),
        };
        let c = self
            .store
            .rate(&id, &identity.sub, rating)
            .await
            .map_err(|e| match e {
                StoreError::NotAllowed => CommandError::NotAllowed(
                    "a conversation can be rated once, after it ended, by its cardholder".into(),
                ),
                other => self.store_failed(other),
            })?;
        self.metrics
            .ratings
            .get_or_create(&RatingLabel {
                score: score.to_string(),
                tier: c.card_tier.to_string(),
            })
            .inc();
        tracing::info!(conversation = %c.id, score, "conversation rated");
        Ok(vec![ServerFrame::Rated {
            conversation: c.id,
            score,
        }])
    }

    async fn leave(&self, identity: &Identity, memo: &mut Memo) -> Replies {
        let c = self.open_of(identity, memo).await?;
        let ended = self
            .store
            .end(&c.id, None, EndReason::CardholderLeft, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        // The store announced `ended` to both sides.
        if let Some(ended) = ended {
            tracing::info!(conversation = %ended.id, "cardholder left");
            self.wake_router();
        }
        Ok(Vec::new())
    }
}
