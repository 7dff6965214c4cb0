//! A conversation as stored, its transcript entries, and what it carries
//! along: hand-overs, internal notes, the rating, and the summaries of the
//! cardholder's earlier conversations.

use serde::{Deserialize, Serialize};

use super::{
    Author, ConversationId, ConversationKind, ConversationStatus, EndReason, Millis, Seq, Tier,
    Topic, UserId,
};

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The cardholder's id.
    pub cardholder: UserId,
    /// The cardholder's display name.
    pub cardholder_name: Option<String>,
    /// The cardholder's card tier.
    pub card_tier: Tier,
    /// The queue it is in or was served from (differs after a transfer).
    pub tier: Tier,
    /// What it is about.
    pub topic: Topic,
    /// Queued, active or ended.
    pub status: ConversationStatus,
    /// The serving agent, when active.
    pub agent: Option<UserId>,
    /// The serving agent's display name.
    pub agent_name: Option<String>,
    /// When the cardholder opened it.
    pub created_at: Millis,
    /// When it (last) entered a queue; waits are measured from here.
    pub queued_at: Millis,
    /// Seq of the last transcript entry.
    pub last_seq: Seq,
    /// Last four digits of the cardholder's phone on file (for callbacks).
    pub phone_last4: Option<String>,
    /// When it ended (ms), once it has.
    pub ended_at: Option<Millis>,
    /// Why it ended, once it has.
    pub end_reason: Option<EndReason>,
    /// The cardholder's last conversations before this one, newest first,
    /// as the archive knew them at opening (for the agent's `assigned`).
    pub history: Vec<Summary>,
    /// A live chat or a secure-message thread.
    pub kind: ConversationKind,
    /// When its last transcript entry was stored (threads list it).
    pub last_at: Option<Millis>,
    /// Up to which seq the cardholder said it read (`read`), for unread counts.
    pub read_seq: Seq,
    /// Hand-overs between agents, oldest first (with the agents' notes).
    pub transfers: Vec<Transfer>,
    /// Internal notes, oldest first: staff only, never the cardholder's.
    pub notes: Vec<Note>,
    /// The cardholder's rating, once given (after the end).
    pub rating: Option<Rating>,
}

/// The cardholder's rating of an ended conversation (`rate`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rating {
    /// 1–5.
    pub score: u8,
    /// What the cardholder added, cleaned and masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When (ms).
    pub at: Millis,
}

/// An internal note an agent wrote on a conversation: staff only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// When (ms).
    pub at: Millis,
    /// The agent.
    pub by: UserId,
    /// The agent's display name.
    pub by_name: String,
    /// The note, cleaned and masked.
    pub text: String,
}

/// One past conversation as history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The conversation.
    pub id: ConversationId,
    /// A live chat or a secure-message thread (a summary kept on a record
    /// from before it carried its kind is a chat: only chats were listed).
    #[serde(default = "chat")]
    pub kind: ConversationKind,
    /// The queue it was served from last.
    pub tier: Tier,
    /// What it was about.
    pub topic: Topic,
    /// When the cardholder opened it (ms).
    pub started_at: Millis,
    /// When it ended (ms).
    pub ended_at: Millis,
    /// Why it ended.
    pub end_reason: EndReason,
    /// The last agent who served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

fn chat() -> ConversationKind {
    ConversationKind::Chat
}

/// A chat moved away from an agent: transferred to another tier's queue,
/// or put back at the head of its queue because the agent was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// When (ms).
    pub at: Millis,
    /// The agent it left.
    pub from: UserId,
    /// The queue it went to.
    pub tier: Tier,
    /// The queue it was served from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_tier: Option<Tier>,
    /// The name of the agent it left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
    /// The agent's note for the next agent (staff only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the conversation.
    pub seq: Seq,
    /// Who wrote it.
    pub from: Author,
    /// The (masked) text.
    pub text: String,
    /// When it was stored, RFC 3339.
    pub at: String,
    /// The sender's idempotency key, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_keeps_its_kind_and_one_kept_before_kinds_is_a_chat() {
        let thread = Summary {
            id: ConversationId("c-thread".into()),
            kind: ConversationKind::Message,
            tier: Tier::Standard,
            topic: Topic::Billing,
            started_at: 1,
            ended_at: 2,
            end_reason: EndReason::Resolved,
            agent_name: Some("Sam".into()),
        };
        let json = serde_json::to_value(&thread).expect("encode");
        assert_eq!(json["kind"], "message");
        assert_eq!(
            serde_json::from_value::<Summary>(json.clone()).expect("decode"),
            thread
        );
        // A record's history written before summaries carried a kind.
        let mut old = json;
        old.as_object_mut().expect("an object").remove("kind");
        let decoded: Summary = serde_json::from_value(old).expect("decode");
        assert_eq!(decoded.kind, ConversationKind::Chat);
    }
}
