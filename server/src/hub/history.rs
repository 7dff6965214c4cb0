//! History: past conversations and their transcripts, for the cardholder
//! they belong to and for the agent serving that cardholder now; a desk
//! agent also reads the transcript of the chat an open callback request of
//! its desks came from. Nobody else's history is reachable: a cardholder asking about a conversation
//! that is not theirs hears `no_conversation` (as if it did not exist), an
//! agent asking about a cardholder they do not serve now `not_allowed`.

use std::time::Duration;

use crate::archive::{ArchiveError, ASSIGNED_HISTORY};
use crate::auth::Identity;
use crate::domain::conversation::Summary;
use crate::domain::{ConversationId, ConversationStatus, Role, Seq, UserId};
use crate::protocol::render::history_item;
use crate::protocol::{ServerFrame, HISTORY_PAGE, TRANSCRIPT_PAGE};

use super::escalation::desks_of;
use super::{CommandError, Hub, Replies};

/// How long opening a chat waits for the cardholder's last conversations;
/// past that (or with the archive down) the agent's `assigned` lists none.
const RECENT_HISTORY_WAIT: Duration = Duration::from_millis(500);

/// Where a past conversation's transcript is read from.
enum Source {
    /// Still in the store (open, or ended within the hot retention).
    Store,
    /// Only in the archive.
    Archive,
}

impl Hub {
    /// The cardholder's last conversations, kept on a new chat's record for
    /// the agent's `assigned`; best effort (none when the archive is slow or down).
    pub(super) async fn recent_history(&self, sub: &UserId) -> Vec<Summary> {
        let lookup = self.archive.history(sub, None, ASSIGNED_HISTORY);
        match tokio::time::timeout(RECENT_HISTORY_WAIT, lookup).await {
            Ok(Ok(history)) => history,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no history for the agent: the archive failed");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!("no history for the agent: the archive did not answer in time");
                Vec::new()
            }
        }
    }

    /// `history`: one page of past conversations, newest first.
    pub(super) async fn history(
        &self,
        identity: &Identity,
        conversation: Option<ConversationId>,
        before: Option<ConversationId>,
        limit: Option<usize>,
    ) -> Replies {
        let limit = limit.unwrap_or(HISTORY_PAGE).clamp(1, TRANSCRIPT_PAGE);
        let (sub, about) = match identity.role {
            Role::Cardholder => (identity.sub.clone(), None),
            Role::Agent | Role::Supervisor => {
                let id = conversation.ok_or_else(|| {
                    CommandError::BadField("agents must name the `conversation`".into())
                })?;
                (self.cardholder_served(&identity.sub, &id).await?, Some(id))
            }
        };
        // One past the page says whether there is more.
        let mut page = self
            .archive
            .history(&sub, before.as_ref(), limit + 1)
            .await
            .map_err(|e| self.archive_failed(e))?;
        let more = page.len() > limit;
        page.truncate(limit);
        Ok(vec![ServerFrame::History {
            conversation: about,
            conversations: page.iter().map(history_item).collect(),
            more,
        }])
    }

    /// `transcript`: one page of a past (or the current) conversation.
    pub(super) async fn past_transcript(
        &self,
        identity: &Identity,
        id: ConversationId,
        after: Option<Seq>,
    ) -> Replies {
        let hot = self
            .store
            .conversation(&id)
            .await
            .map_err(|e| self.store_failed(e))?;
        let (owner, source) = match hot {
            Some(c) => (Some(c.cardholder), Source::Store),
            None => (
                self.archive
                    .owner(&id)
                    .await
                    .map_err(|e| self.archive_failed(e))?,
                Source::Archive,
            ),
        };
        match identity.role {
            Role::Cardholder => {
                if owner.as_ref() != Some(&identity.sub) {
                    return Err(CommandError::NoConversation);
                }
            }
            Role::Agent | Role::Supervisor => {
                let Some(owner) = owner else {
                    return Err(CommandError::NoConversation);
                };
                if !self.serves_now(&identity.sub, &owner).await?
                    && !self.on_desk_of_request(identity, &id).await?
                {
                    return Err(not_yours());
                }
            }
        }
        let after = after.unwrap_or(0);
        let mut entries = match source {
            Source::Store => self
                .store
                .transcript(&id, after, TRANSCRIPT_PAGE + 1)
                .await
                .map_err(|e| self.store_failed(e))?,
            Source::Archive => self
                .archive
                .transcript(&id, after, TRANSCRIPT_PAGE + 1)
                .await
                .map_err(|e| self.archive_failed(e))?,
        };
        let more = entries.len() > TRANSCRIPT_PAGE;
        entries.truncate(TRANSCRIPT_PAGE);
        Ok(vec![ServerFrame::Transcript {
            conversation: id,
            entries,
            more,
        }])
    }

    /// The cardholder of a chat this agent holds now.
    async fn cardholder_served(
        &self,
        agent: &UserId,
        id: &ConversationId,
    ) -> Result<UserId, CommandError> {
        let c = self
            .store
            .conversation(id)
            .await
            .map_err(|e| self.store_failed(e))?;
        match c {
            Some(c)
                if c.status == ConversationStatus::Active && c.agent.as_ref() == Some(agent) =>
            {
                Ok(c.cardholder)
            }
            _ => Err(not_yours()),
        }
    }

    /// Whether this agent holds the cardholder's open chat now.
    async fn serves_now(&self, agent: &UserId, cardholder: &UserId) -> Result<bool, CommandError> {
        let open = self
            .store
            .open_conversation_of(cardholder)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(open.is_some_and(|c| {
            c.status == ConversationStatus::Active && c.agent.as_ref() == Some(agent)
        }))
    }

    /// Whether an open callback request of one of the agent's desks came
    /// from this conversation (the desk reads the chat before calling).
    async fn on_desk_of_request(
        &self,
        identity: &Identity,
        id: &ConversationId,
    ) -> Result<bool, CommandError> {
        for desk in desks_of(identity) {
            let open = self
                .store
                .callbacks(desk)
                .await
                .map_err(|e| self.store_failed(e))?;
            if open.iter().any(|r| &r.conversation == id) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Logs an archive failure and answers `unavailable`.
    fn archive_failed(&self, e: ArchiveError) -> CommandError {
        tracing::warn!(error = %e, "archive call failed");
        CommandError::Unavailable
    }
}

fn not_yours() -> CommandError {
    CommandError::NotAllowed(
        "only the history of a cardholder you are serving now, or the chat of a callback \
         request on your desk, can be read"
            .into(),
    )
}
