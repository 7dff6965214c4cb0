//! One supervisor action, as the audit log keeps it.

use super::{Millis, Team, UserId};

/// One supervisor action, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Millis,
    /// The supervisor.
    pub by: UserId,
    /// What: `set_agent_state`, `reassign`, `monitor`.
    pub action: String,
    /// On whom or what: an agent or a conversation id.
    pub target: String,
    /// The details (`away`, the new tier, …).
    pub detail: String,
    /// The teams it is about (the agent's teams, the chat's tier, the tier
    /// a chat was reassigned to): only their supervisors see it
    /// (`Store::recent_audit`). Entries written before teams were kept
    /// have none, and no supervisor sees them in the console.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<Team>,
}
