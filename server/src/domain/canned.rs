//! One canned reply, as an agent's `welcome` lists it.

use serde::{Deserialize, Serialize};

use super::Team;

/// One canned reply, as an agent's `welcome` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedReply {
    /// The team whose agents get it.
    pub team: Team,
    /// What the agent types after `/` (lower-case letters, digits, `-`, `_`).
    pub shortcut: String,
    /// A few words shown in the picker.
    pub title: String,
    /// The text put into the composer, editable before sending.
    pub text: String,
}
