//! A team's secure-message inbox as agents see it: its threads, and how it changed.

use serde::{Deserialize, Serialize};

use super::{ConversationId, Tier, Topic, UserId};

/// One thread in a team's inbox, as agents see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The thread.
    pub conversation: ConversationId,
    /// Who wrote it.
    pub cardholder: CardholderInfo,
    /// What it is about.
    pub topic: Topic,
    /// RFC 3339: when the cardholder opened it.
    pub created_at: String,
    /// RFC 3339: its last entry (null when empty).
    pub last_at: Option<String>,
    /// Seconds since it (last) entered the inbox.
    pub waiting_s: u64,
}

/// How an inbox changed (`inbox_item`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxChange {
    /// A thread entered the inbox (new, reopened, transferred).
    Added,
    /// A thread left it (claimed).
    Removed,
}

/// The cardholder as an agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardholderInfo {
    /// Cardholder id.
    pub sub: UserId,
    /// Display name, when the token carried one.
    #[serde(default)]
    pub name: Option<String>,
    /// Card tier.
    pub tier: Tier,
}
