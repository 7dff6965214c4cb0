//! Phone callback requests: the request, each call made, and why it was raised.

use super::{
    CallbackOutcome, CallbackRef, CallbackStatus, ConversationId, Desk, Millis, Tier, Topic, UserId,
};

/// A phone callback request for an identity or fraud desk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallbackRequest {
    /// Reference read out to the cardholder.
    pub reference: CallbackRef,
    /// The desk that calls.
    pub desk: Desk,
    /// The cardholder.
    pub sub: UserId,
    /// The cardholder's display name.
    pub name: Option<String>,
    /// The cardholder's tier (premium is called first).
    pub tier: Tier,
    /// Why, in words a desk agent reads ([`Cause::describe`]).
    pub reason: String,
    /// Why, structured (none on requests raised before it was kept).
    pub cause: Option<Cause>,
    /// The conversation it came from.
    pub conversation: ConversationId,
    /// When it was requested.
    pub created_at: Millis,
    /// Where it stands.
    pub status: CallbackStatus,
    /// Calls made so far.
    pub attempts: u32,
    /// The desk agent holding it.
    pub claimed_by: Option<UserId>,
    /// Last four digits of the phone on file.
    pub phone_last4: Option<String>,
    /// Calls so far, oldest first.
    pub history: Vec<Attempt>,
}

impl CallbackRequest {
    /// When it closed: its last call's time, once closed.
    pub fn closed_at(&self) -> Option<Millis> {
        if self.status.is_open() {
            return None;
        }
        self.history.last().map(|a| a.at)
    }
}

/// One call a desk agent made, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// When the outcome was recorded (ms).
    pub at: Millis,
    /// How it went.
    pub outcome: CallbackOutcome,
    /// The desk agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<UserId>,
    /// The agent's note on the call (cleaned, masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a chat became a callback request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The topic the cardholder chose (`locked_account`, `fraud_restriction`).
    Topic {
        /// The topic.
        topic: Topic,
    },
    /// The lockout classifier read the cardholder's first message.
    FirstMessage {
        /// The classifier rule that matched.
        rule: String,
    },
    /// The cardholder asked for a call back while waiting (`call_me_back`).
    Asked {
        /// The chat's topic.
        topic: Topic,
    },
    /// The serving agent escalated the chat.
    Agent {
        /// The chat's topic.
        topic: Topic,
        /// The agent's note for the desk (staff only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// What the cardholder is told the call is about (never a staff note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concern {
    /// Verification codes: the identity desk confirms it is them by phone.
    VerificationCode,
    /// A locked account: chat cannot unlock it.
    Locked,
    /// A fraud restriction: the fraud team calls.
    Fraud,
    /// Anything else a desk helps with by phone when the cardholder asked
    /// (a forgotten login, new contact details, a lost card): it confirms it
    /// is them first.
    Identity,
}

impl Cause {
    /// The reason a desk agent reads, e.g. "Locked account (chosen topic)".
    pub fn describe(&self, desk: Desk) -> String {
        let about = match desk {
            Desk::Identity => "a locked account",
            Desk::Fraud => "a fraud block on the card",
        };
        match self {
            Cause::Topic { topic } => format!("{} (chosen topic)", topic.label()),
            Cause::FirstMessage { .. } => format!("First message mentioned {about}"),
            Cause::Agent { note: Some(n), .. } => format!("Agent escalated: {n}"),
            Cause::Agent { note: None, .. } => "Agent escalated (no note)".to_owned(),
            Cause::Asked { topic } => {
                format!("Asked for a call back while waiting ({})", topic.label())
            }
        }
    }

    /// What the cardholder's screen is worded by.
    pub fn concern(&self, desk: Desk) -> Concern {
        match (desk, self) {
            (_, Cause::Asked { topic })
                if !matches!(
                    topic,
                    Topic::TwoFactor | Topic::LockedAccount | Topic::FraudRestriction
                ) =>
            {
                Concern::Identity
            }
            (Desk::Fraud, _) => Concern::Fraud,
            (
                Desk::Identity,
                Cause::Agent { topic, .. } | Cause::Topic { topic } | Cause::Asked { topic },
            ) if *topic == Topic::TwoFactor => Concern::VerificationCode,
            (Desk::Identity, _) => Concern::Locked,
        }
    }
}
