//! What a queue and a waiting cardholder are told: the queue's depth, and
//! whether anyone can answer soon.

use serde::{Deserialize, Serialize};

use super::Tier;

/// What a waiting cardholder is told besides the place in the queue
/// (`queued`): whether anyone can answer soon, and whether to offer a
/// secure message instead of waiting on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Availability {
    /// Agents of the conversation's team signed in on any node.
    pub agents_online: u64,
    /// Whether the team is within its opening hours (`--hours`).
    pub open: bool,
    /// When a closed team opens next (RFC 3339); null when open or unknown.
    pub next_open: Option<String>,
    /// True once the chat waited longer than `--offer-message-after`, or
    /// when no agent is signed in or the team is closed.
    pub offer_message: bool,
}

impl Default for Availability {
    /// Open, nobody counted, nothing offered.
    fn default() -> Self {
        Availability {
            agents_online: 0,
            open: true,
            next_open: None,
            offer_message: false,
        }
    }
}

/// One tier's queue in the overview (extension frame `queues`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    /// Which queue.
    pub tier: Tier,
    /// Conversations waiting.
    pub waiting: u64,
    /// Seconds the oldest has waited (0 when empty).
    pub oldest_wait_s: u64,
}
