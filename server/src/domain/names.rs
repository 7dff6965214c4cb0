//! The closed sets of names the hub speaks in: card tiers, teams, desks,
//! topics, roles, authors, statuses and reasons, each parsed from its
//! snake_case name; and the routing boosts per tier (`TierBoosts`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::clock::Millis;

/// Declares a closed, string-named enum with `as_str`, `ALL`, `FromStr`,
/// `Display` and serde as its snake_case name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        kind: stringify!($name),
                        value: s.to_owned(),
                        expected: concat!($($text, ", "),+),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A name that is not one of the values of a closed set.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} `{value}` (known: {})", .expected.trim_end_matches([' ', ',']))]
pub struct UnknownName {
    /// Which set was asked (e.g. `Tier`).
    pub kind: &'static str,
    /// What was given.
    pub value: String,
    /// The known names, space-separated.
    pub expected: &'static str,
}

named_enum!(
    /// A cardholder's card tier; each has its own waiting queue and team.
    Tier {
        Standard = "standard",
        Premium = "premium",
        Business = "business",
        Prepaid = "prepaid",
    }
);

named_enum!(
    /// A callback desk: a team that phones cardholders back.
    Desk {
        /// Account-access verification calls.
        Identity = "identity",
        /// Fraud-restriction calls (a different line from general service).
        Fraud = "fraud",
    }
);

named_enum!(
    /// Who connected, as the token's `role` claim says.
    Role {
        Cardholder = "cardholder",
        Agent = "agent",
        Supervisor = "supervisor",
    }
);

named_enum!(
    /// What a cardholder wants help with; picked when the chat starts.
    Topic {
        General = "general",
        Billing = "billing",
        Dispute = "dispute",
        LostCard = "lost_card",
        ForgotLogin = "forgot_login",
        LockedAccount = "locked_account",
        TwoFactor = "two_factor",
        FraudRestriction = "fraud_restriction",
        UpdateContact = "update_contact",
    }
);

impl Topic {
    /// How staff read the topic (as the agent pane names it).
    pub fn label(self) -> &'static str {
        match self {
            Topic::General => "General question",
            Topic::Billing => "Billing / payment",
            Topic::Dispute => "Dispute a charge",
            Topic::LostCard => "Lost or stolen card",
            Topic::ForgotLogin => "Forgot login",
            Topic::LockedAccount => "Locked account",
            Topic::TwoFactor => "Verification codes",
            Topic::FraudRestriction => "Fraud restriction",
            Topic::UpdateContact => "Update contact details",
        }
    }
}

named_enum!(
    /// Where a conversation stands.
    ConversationStatus {
        /// Waiting in its tier queue.
        Queued = "queued",
        /// Being served by an agent.
        Active = "active",
        /// Over; only its transcript remains.
        Ended = "ended",
        /// A message thread an agent answered and closed: it stays the
        /// cardholder's (readable, and reopened by their next message).
        Resolved = "resolved",
    }
);

named_enum!(
    /// What a conversation is: a live chat, or a secure-message thread
    /// answered later (SPEC "Secure messaging").
    ConversationKind {
        /// A live chat (one per cardholder at a time).
        Chat = "chat",
        /// A secure-message thread, waiting in its team's inbox.
        Message = "message",
    }
);

named_enum!(
    /// Why a conversation ended (or left an agent).
    EndReason {
        AgentEnded = "agent_ended",
        CardholderLeft = "cardholder_left",
        Escalated = "escalated",
        Transferred = "transferred",
        Abandoned = "abandoned",
        /// The store lost it (Redis restarted without its data).
        Lost = "lost",
        /// An agent answered a message thread and closed it.
        Resolved = "resolved",
    }
);

named_enum!(
    /// Who wrote a transcript entry.
    Author {
        Cardholder = "cardholder",
        Agent = "agent",
        System = "system",
    }
);

named_enum!(
    /// Where a callback request stands.
    CallbackStatus {
        /// Waiting for a desk agent.
        Requested = "requested",
        /// A desk agent is calling.
        Claimed = "claimed",
        /// Done: the cardholder was reached.
        Reached = "reached",
        /// Nobody answered; back in the desk's list.
        NoAnswer = "no_answer",
        /// Given up (by the agent, or after the last attempt).
        Failed = "failed",
    }
);

impl CallbackStatus {
    /// Still needs a call (listed for the desk).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CallbackStatus::Requested | CallbackStatus::Claimed | CallbackStatus::NoAnswer
        )
    }
}

named_enum!(
    /// How a callback attempt ended.
    CallbackOutcome {
        /// The cardholder was reached and verified.
        Reached = "reached",
        /// Nobody answered; the request returns to the desk.
        NoAnswer = "no_answer",
        /// The call cannot be completed.
        Failed = "failed",
    }
);

named_enum!(
    /// Whether the cardholder of a chat is there, as its agent sees it.
    CardholderPresence {
        /// A connection of the cardholder is open.
        Online = "online",
        /// The cardholder's last connection closed, within the grace period.
        Away = "away",
        /// Away for longer than the grace period.
        Gone = "gone",
    }
);

named_enum!(
    /// Why a supervisor stopped monitoring a chat (`monitor_ended`).
    MonitorEndReason {
        /// The chat left every team the supervisor supervises (transfer,
        /// reassign, escalation to a desk they do not supervise).
        OutOfScope = "out_of_scope",
        /// The chat ended.
        Ended = "ended",
        /// The supervisor's own `unmonitor`.
        Unmonitored = "unmonitored",
    }
);

named_enum!(
    /// An agent's own availability toggle.
    AgentState {
        Available = "available",
        Away = "away",
    }
);

/// A team an agent belongs to: a tier's team or a callback desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Team {
    /// Serves the queue of this tier.
    Tier(Tier),
    /// Works this desk's callback requests.
    Desk(Desk),
}

impl Team {
    /// The wire name (the tier's or desk's name).
    pub fn as_str(self) -> &'static str {
        match self {
            Team::Tier(t) => t.as_str(),
            Team::Desk(d) => d.as_str(),
        }
    }

    /// The tier whose queue this team serves, if it is a tier team.
    pub fn tier(self) -> Option<Tier> {
        match self {
            Team::Tier(t) => Some(t),
            Team::Desk(_) => None,
        }
    }
}

impl FromStr for Team {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = s.parse() {
            return Ok(Team::Tier(t));
        }
        s.parse().map(Team::Desk).map_err(|_| UnknownName {
            kind: "Team",
            value: s.to_owned(),
            expected: "standard, premium, business, prepaid, identity, fraud",
        })
    }
}

impl fmt::Display for Team {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Team {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Team {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How many seconds one tier is moved ahead in the routing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierBoosts {
    /// Boost per tier, in milliseconds, indexed like [`Tier::ALL`].
    millis: [Millis; 4],
}

impl Default for TierBoosts {
    /// SPEC's defaults: premium 120 s, business 60 s, standard and prepaid 0.
    fn default() -> Self {
        let mut b = TierBoosts { millis: [0; 4] };
        b.set(Tier::Premium, 120);
        b.set(Tier::Business, 60);
        b
    }
}

impl TierBoosts {
    /// Sets one tier's boost in seconds.
    pub fn set(&mut self, tier: Tier, seconds: u32) {
        self.millis[tier_index(tier)] = Millis::from(seconds) * 1000;
    }

    /// One tier's boost in milliseconds.
    pub fn millis(&self, tier: Tier) -> Millis {
        self.millis[tier_index(tier)]
    }
}

/// Position of a tier in [`Tier::ALL`].
pub fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Standard => 0,
        Tier::Premium => 1,
        Tier::Business => 2,
        Tier::Prepaid => 3,
    }
}

impl FromStr for TierBoosts {
    type Err = String;
    /// Parses `premium=120,business=60`; tiers not named keep the default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut boosts = TierBoosts::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (tier, secs) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not tier=seconds"))?;
            let tier: Tier = tier
                .trim()
                .parse()
                .map_err(|e: UnknownName| e.to_string())?;
            let secs: u32 = secs
                .trim()
                .parse()
                .map_err(|_| format!("`{secs}` is not a whole number of seconds"))?;
            boosts.set(tier, secs);
        }
        Ok(boosts)
    }
}
