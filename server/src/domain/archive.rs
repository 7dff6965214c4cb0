//! What the archive keeps of an ended conversation or a closed callback request.

use super::callback::CallbackRequest;
use super::conversation::{Conversation, Entry, Summary};
use super::{CallbackRef, EndReason, Millis};

/// An ended conversation, everything the archive keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedConversation {
    /// The record (ended: `ended_at` and `end_reason` are set), with its
    /// hand-overs, internal notes and rating.
    pub conversation: Conversation,
    /// The callback request it was escalated to.
    pub callback: Option<CallbackRef>,
    /// The full, masked transcript in seq order.
    pub entries: Vec<Entry>,
}

impl ArchivedConversation {
    /// Its history line.
    pub fn summary(&self) -> Summary {
        let c = &self.conversation;
        Summary {
            id: c.id.clone(),
            kind: c.kind,
            tier: c.tier,
            topic: c.topic,
            started_at: c.created_at,
            ended_at: c.ended_at.unwrap_or(c.created_at),
            end_reason: c.end_reason.unwrap_or(EndReason::Lost),
            // An ended chat keeps the agent who served it last (none when
            // it ended while queued).
            agent_name: c.agent_name.clone(),
        }
    }
}

/// A closed callback request and when it closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedCallback {
    /// The request as it closed.
    pub request: CallbackRequest,
    /// When it closed (ms).
    pub closed_at: Millis,
}
