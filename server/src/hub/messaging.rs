//! Secure messaging: threads a cardholder leaves for the bank, answered
//! later from the team inboxes (SPEC "Secure messaging").
//!
//! A thread is a conversation of kind `message`: it waits in its tier team's
//! inbox (earliest reply due first, `store::inbox`), needs nobody online,
//! and once an agent claims it behaves like a chat (`say`, `read`, `sync`,
//! `typing`, `transfer`, `escalate`) until `resolve`. A resolved thread
//! stays the cardholder's; their next message reopens it into the inbox.
//! Agents of a team hear `inbox_item` when a thread enters or leaves its
//! inbox.

use crate::auth::{Identity, Principal};
use crate::domain::conversation::Conversation;
use crate::domain::inbox::{InboxChange, InboxItem};
use crate::domain::{
    now_millis, rfc3339, Author, ClientKey, ConversationId, ConversationKind, ConversationStatus,
    Tier, Topic, UserId,
};
use crate::events::{Audience, Event};
use crate::metrics::tier_label;
use crate::protocol::render::cardholder_info;
use crate::protocol::{ClientFrame, ServerFrame, ThreadView, TRANSCRIPT_PAGE};
use crate::store::inbox::{unread, TOO_MANY_THREADS};
use crate::store::{NewConversation, StoreError};

use super::shared::resend_echo;
use super::{typed_text, CommandError, Hub, Replies};

/// The tiers whose inboxes an agent serves (its tier teams).
pub fn inboxes_of(identity: &Identity) -> Vec<Tier> {
    match &identity.principal {
        Principal::Agent { teams, .. } => teams.iter().filter_map(|t| t.tier()).collect(),
        Principal::Cardholder { .. } => Vec::new(),
    }
}

/// The conversation a cardholder's `say`, `typing`, `read` or `sync` names
/// (absent: the live chat, handled by `hub::cardholder`).
pub(super) fn named_conversation(frame: &ClientFrame) -> Option<&ConversationId> {
    match frame {
        ClientFrame::Say { conversation, .. }
        | ClientFrame::Typing { conversation, .. }
        | ClientFrame::Read { conversation, .. }
        | ClientFrame::Sync { conversation, .. } => conversation.as_ref(),
        _ => None,
    }
}

/// A thread as its team's inbox lists it.
pub fn inbox_item(c: &Conversation, now: crate::domain::Millis) -> InboxItem {
    InboxItem {
        conversation: c.id.clone(),
        cardholder: cardholder_info(c),
        topic: c.topic,
        created_at: rfc3339(c.created_at),
        last_at: c.last_at.map(rfc3339),
        waiting_s: u64::try_from((now - c.queued_at).max(0) / 1000).unwrap_or(0),
    }
}

impl Hub {
    /// The cardholder's reply target (`--message-sla`), seconds.
    pub(super) fn reply_within_s(&self, identity: &Identity) -> Option<u64> {
        match &identity.principal {
            Principal::Cardholder { tier, .. } => Some(self.settings.message_sla.seconds(*tier)),
            Principal::Agent { .. } => None,
        }
    }

    /// The cardholder's threads with their unread counts, newest first.
    pub(super) async fn thread_views(&self, sub: &UserId) -> Result<Vec<ThreadView>, CommandError> {
        let threads = self
            .store
            .threads_of(sub)
            .await
            .map_err(|e| self.store_failed(e))?;
        let mut views = Vec::with_capacity(threads.len());
        for c in threads {
            let unread = if c.last_seq > c.read_seq {
                let after = self
                    .store
                    .transcript(&c.id, c.read_seq, TRANSCRIPT_PAGE)
                    .await
                    .map_err(|e| self.store_failed(e))?;
                unread(&after)
            } else {
                0
            };
            views.push(ThreadView {
                conversation: c.id,
                topic: c.topic,
                status: c.status,
                last_seq: c.last_seq,
                unread,
                last_at: c.last_at.map(rfc3339),
            });
        }
        Ok(views)
    }

    /// The `threads` frame for the calling cardholder.
    pub(super) async fn threads_frame(&self, identity: &Identity) -> Replies {
        Ok(vec![ServerFrame::Threads {
            threads: self.thread_views(&identity.sub).await?,
            message_reply_within_s: self.reply_within_s(identity).unwrap_or(0),
        }])
    }

    /// `start` with `mode: "message"`: opens a thread with its first message
    /// in the inbox of the cardholder's tier team; answers `threads`. With
    /// the client's key (`id`), a resend opens the same thread and stores
    /// its first message once (the key is the message's too).
    pub(super) async fn start_thread(
        &self,
        identity: &Identity,
        topic: Topic,
        text: Option<String>,
        key: Option<ClientKey>,
    ) -> Replies {
        let Principal::Cardholder { tier, phone_last4 } = &identity.principal else {
            return Err(CommandError::NotAllowed(
                "only cardholders leave secure messages".into(),
            ));
        };
        let text =
            typed_text(text.ok_or_else(|| {
                CommandError::BadField("a secure message needs its `text`".into())
            })?)?;
        let id = match &key {
            Some(k) => ConversationId::for_client_key(&identity.sub, k.as_str()),
            None => ConversationId::generate(),
        };
        let history = self.recent_history(&identity.sub).await;
        let opened = self
            .store
            .open_thread(
                NewConversation {
                    cardholder: identity.sub.clone(),
                    name: identity.name.clone(),
                    tier: *tier,
                    topic,
                    enqueue: true,
                    phone_last4: phone_last4.clone(),
                    history,
                    boosts: self.settings.boosts,
                    now: now_millis(),
                },
                id,
            )
            .await;
        let opened = match opened {
            Err(StoreError::NotAllowed) => {
                return Err(CommandError::NotAllowed(TOO_MANY_THREADS.into()))
            }
            other => other.map_err(|e| self.store_failed(e))?,
        };
        let c = opened.conversation;
        // A resend stores the first message once (the thread's key is its
        // key too), also when the first try opened the thread but failed
        // before its message was stored.
        self.append(
            &c.id,
            Author::Cardholder,
            Some(&identity.sub),
            text,
            key.map(String::from),
        )
        .await?;
        if opened.created {
            tracing::info!(conversation = %c.id, tier = %c.tier, topic = %topic, "secure message left");
            self.inbox_changed(&c, InboxChange::Added).await;
        }
        self.threads_frame(identity).await
    }

    /// One of the cardholder's own conversations, named by id (a thread,
    /// or its live chat), while it is not over for good.
    async fn own_conversation(
        &self,
        identity: &Identity,
        id: &ConversationId,
    ) -> Result<Conversation, CommandError> {
        self.store
            .conversation(id)
            .await
            .map_err(|e| self.store_failed(e))?
            .filter(|c| c.cardholder == identity.sub && c.status != ConversationStatus::Ended)
            .ok_or(CommandError::NoConversation)
    }

    /// A cardholder's `say`, `typing`, `read` or `sync` naming a conversation.
    pub(super) async fn cardholder_in_thread(
        &self,
        identity: &Identity,
        id: ConversationId,
        frame: ClientFrame,
    ) -> Replies {
        let me = &identity.sub;
        match frame {
            ClientFrame::Say { id: key, text, .. } => {
                let text = typed_text(text)?;
                let key = String::from(key);
                let appended = self
                    .append(&id, Author::Cardholder, Some(me), text, Some(key))
                    .await?;
                if appended.reopened {
                    let c = self.own_conversation(identity, &id).await?;
                    tracing::info!(conversation = %id, "secure message reopened");
                    self.inbox_changed(&c, InboxChange::Added).await;
                }
                Ok(resend_echo(&id, appended))
            }
            ClientFrame::Typing { on, .. } => {
                let c = self.own_conversation(identity, &id).await?;
                self.cardholder_typing(c, on).await
            }
            ClientFrame::Read { seq, .. } => {
                let c = self.own_conversation(identity, &id).await?;
                self.store
                    .mark_read(&c.id, me, seq, now_millis())
                    .await
                    .map_err(|e| self.store_failed(e))?;
                self.cardholder_read(c, seq).await
            }
            ClientFrame::Sync { after, .. } => {
                let c = self.own_conversation(identity, &id).await?;
                self.replay(&c.id, after).await
            }
            _ => Err(CommandError::NotAllowed(
                "this frame does not name a conversation".into(),
            )),
        }
    }

    /// `inbox {team}`: a team's waiting threads, for an agent of that team.
    pub(super) async fn inbox_frame(&self, identity: &Identity, team: Tier) -> Replies {
        if !inboxes_of(identity).contains(&team) {
            return Err(CommandError::NotAllowed(format!(
                "you are not in the {team} team"
            )));
        }
        let now = now_millis();
        let items = self
            .store
            .inbox(team)
            .await
            .map_err(|e| self.store_failed(e))?
            .iter()
            .map(|c| inbox_item(c, now))
            .collect();
        Ok(vec![ServerFrame::Inbox { team, items }])
    }

    /// `claim_message`: one agent wins the thread and gets `assigned` (from
    /// the store step); the others hear `not_allowed`.
    pub(super) async fn claim_message(&self, identity: &Identity, id: &ConversationId) -> Replies {
        let tiers = inboxes_of(identity);
        let claimed = self
            .store
            .claim_thread(id, &identity.sub, &tiers, now_millis())
            .await;
        let won = match claimed {
            Err(StoreError::NotAllowed) => {
                return Err(CommandError::NotAllowed(
                    "another agent has already taken this message".into(),
                ))
            }
            other => other.map_err(|e| self.store_failed(e))?,
        };
        tracing::info!(conversation = %id, waited_ms = won.waited_ms, "secure message claimed");
        self.inbox_changed(&won.conversation, InboxChange::Removed)
            .await;
        Ok(Vec::new())
    }

    /// `resolve`: the agent closes a thread it holds as answered.
    pub(super) async fn resolve_thread(&self, agent: &UserId, id: &ConversationId) -> Replies {
        let c = self
            .store
            .resolve(id, agent, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        // The store announced `ended` (resolved) to both sides.
        tracing::info!(conversation = %c.id, "secure message resolved");
        Ok(Vec::new())
    }

    /// After an agent's first entry in a conversation: a thread's time to
    /// first reply goes to `/metrics`.
    pub(super) async fn first_reply(&self, id: &ConversationId) {
        if let Ok(Some(c)) = self.store.conversation(id).await {
            if c.kind == ConversationKind::Message {
                let waited = (now_millis() - c.created_at).max(0) as f64 / 1000.0;
                self.metrics
                    .message_first_reply
                    .get_or_create(&tier_label(c.card_tier))
                    .observe(waited);
            }
        }
    }

    /// Tells the agents of the thread's team that it entered or left their inbox.
    pub(super) async fn inbox_changed(&self, c: &Conversation, change: InboxChange) {
        let item = (change == InboxChange::Added).then(|| Box::new(inbox_item(c, now_millis())));
        let event = Event::InboxItem {
            team: c.tier,
            conversation: c.id.clone(),
            change,
            item,
        };
        self.deliver(vec![Audience::Inbox(c.tier)], event).await;
    }
}
