//! The hub's vocabulary: card tiers, teams and desks, topics, ids and the
//! small value types every other module speaks in.
//!
//! Everything here is validated at the edge (`FromStr`/serde) so that the rest
//! of the hub never sees a tier or a topic it does not know.
//!
//! The records built from them live in one file per area, below everything
//! else in the crate (they name nothing above `domain`):
//! [`conversation`] (a conversation, its entries, hand-overs, notes, rating,
//! history summaries), [`callback`] (callback requests and their calls),
//! [`archive`] (what the archive keeps), [`audit`] (supervisor actions),
//! [`queue`] (queue depth, a waiting cardholder's availability), [`inbox`]
//! (secure-message inbox items), [`canned`] (canned replies).

pub mod archive;
pub mod audit;
pub mod callback;
pub mod canned;
pub mod conversation;
pub mod inbox;
pub mod queue;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// Declares a string newtype id. The field is the trusted constructor: for
/// ids the hub issued itself and reads back (store, archive, events), which
/// need no check. An id from a client is parsed instead (see [`BadId`]).
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A user's stable id: the token's `sub` claim.
    UserId
);
/// Longest `sub`, in bytes; it ends up in Redis keys and log spans.
pub const MAX_SUB_BYTES: usize = 128;

/// Why a text is not a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadUserId {
    /// No byte at all.
    #[error("is empty")]
    Empty,
    /// Over [`MAX_SUB_BYTES`].
    #[error("is too long")]
    TooLong,
    /// A control character somewhere.
    #[error("contains control characters")]
    Control,
}

impl UserId {
    /// A user id from outside (a token's `sub`, a supervisor's `agent`):
    /// SPEC "Identity", any 1 to [`MAX_SUB_BYTES`] bytes without control
    /// characters (the store encodes it before it reaches a key).
    pub fn parse(s: &str) -> Result<UserId, BadUserId> {
        if s.is_empty() {
            Err(BadUserId::Empty)
        } else if s.len() > MAX_SUB_BYTES {
            Err(BadUserId::TooLong)
        } else if s.chars().any(char::is_control) {
            Err(BadUserId::Control)
        } else {
            Ok(UserId(s.to_owned()))
        }
    }
}

string_id!(
    /// A conversation's id, minted by the hub.
    ConversationId
);
string_id!(
    /// A callback request's reference, read out to the cardholder.
    CallbackRef
);

/// An id from a client that does not have the shape the hub issues; it
/// says which shape was expected, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not {expected}")]
pub struct BadId {
    /// The shape the id must have, as a phrase ("a conversation id …").
    pub expected: &'static str,
}

/// `parse`, `TryFrom<String>` and `FromStr` for an id a client sends,
/// from the type's own `has_shape` (the exact shape the hub issues) and
/// `SHAPE` (what a refusal says): one way in for every such id.
macro_rules! parsed_from_client {
    ($name:ident) => {
        impl $name {
            /// An id from a client: exactly the shape the hub issues, else
            /// [`Self::SHAPE`].
            pub fn parse(s: &str) -> Result<Self, BadId> {
                Self::try_from(s.to_owned())
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;
            fn try_from(s: String) -> Result<Self, BadId> {
                if Self::has_shape(&s) {
                    Ok($name(s))
                } else {
                    Err(Self::SHAPE)
                }
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                Self::parse(s)
            }
        }
    };
}

/// Whether `s` is `prefix` followed by exactly `n` characters that `digit` accepts.
fn prefixed(s: &str, prefix: &str, n: usize, digit: fn(&u8) -> bool) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == n && rest.as_bytes().iter().all(digit))
}

impl ConversationId {
    /// The hex digits after `c-`: a simple UUID, or 16 bytes of a digest.
    const HEX_DIGITS: usize = 32;

    /// What [`ConversationId::parse`] accepts.
    pub const SHAPE: BadId = BadId {
        expected: "a conversation id the hub issued (`c-` and 32 lowercase hexadecimal digits)",
    };

    /// A fresh, unguessable conversation id.
    pub fn generate() -> Self {
        ConversationId(format!("c-{}", uuid::Uuid::new_v4().simple()))
    }

    /// Whether `s` has the shape the hub issues
    /// ([`ConversationId::generate`], [`ConversationId::for_client_key`]), so
    /// that nothing else (`…:monitors`, `*`, another case) ever names a key.
    fn has_shape(s: &str) -> bool {
        let lower_hex = |b: &u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
        prefixed(s, "c-", Self::HEX_DIGITS, lower_hex)
    }

    /// The id of the thread a cardholder opens with client key `key`: the
    /// same for a resend of that `start` (so it opens one thread), and not
    /// one another cardholder's key can name (the cardholder is hashed in).
    pub fn for_client_key(cardholder: &UserId, key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(cardholder.as_str().as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        let digest = h.finalize();
        ConversationId(format!("c-{}", hex::encode(&digest[..16])))
    }
}

parsed_from_client!(ConversationId);

impl CallbackRef {
    /// The digits after the desk's prefix: short enough to read out on the phone.
    pub const DIGITS: usize = 6;

    /// What [`CallbackRef::parse`] accepts.
    pub const SHAPE: BadId = BadId {
        expected: "a callback reference the hub issued (`ID-` or `FR-` and 6 digits)",
    };

    /// The reference's prefix for a desk's requests (`ID-`, `FR-`).
    pub fn prefix(desk: Desk) -> &'static str {
        match desk {
            Desk::Identity => "ID-",
            Desk::Fraud => "FR-",
        }
    }

    /// The reference numbered `n` (modulo 10⁶) of a desk.
    pub fn numbered(desk: Desk, n: u32) -> Self {
        let n = n % 1_000_000;
        CallbackRef(format!("{}{n:06}", Self::prefix(desk)))
    }

    /// Whether `s` has the shape the hub issues ([`CallbackRef::numbered`]).
    fn has_shape(s: &str) -> bool {
        Desk::ALL
            .iter()
            .any(|&d| prefixed(s, Self::prefix(d), Self::DIGITS, u8::is_ascii_digit))
    }
}

parsed_from_client!(CallbackRef);

/// A client's idempotency key (a `say`'s `id`, a thread `start`'s): 1 to
/// [`ClientKey::MAX_LEN`] of `A–Z a–z 0–9 _ -` (SPEC "Identity"), which
/// UUIDs and the widget's, agent pane's and load tester's keys all are.
/// Only a parsed key exists: the field is private.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientKey(String);

impl ClientKey {
    /// Longest key, in characters (all ASCII).
    pub const MAX_LEN: usize = 64;

    /// What [`ClientKey::parse`] accepts.
    pub const SHAPE: BadId = BadId {
        expected: "a client key (1 to 64 of `A-Z`, `a-z`, `0-9`, `_`, `-`)",
    };

    /// Whether `s` is a key a client may send (SPEC "Identity"): the
    /// client chooses its keys, the hub only bounds their shape.
    fn has_shape(s: &str) -> bool {
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
        (1..=Self::MAX_LEN).contains(&s.len()) && s.as_bytes().iter().all(allowed)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

parsed_from_client!(ClientKey);

impl From<ClientKey> for String {
    fn from(k: ClientKey) -> String {
        k.0
    }
}

impl AsRef<str> for ClientKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transcript entry's number within its conversation: 1, 2, 3, … without gaps.
pub type Seq = u64;

/// Milliseconds since the Unix epoch; the hub's one clock unit for stored times.
pub type Millis = i64;

/// The wall clock in [`Millis`].
pub fn now_millis() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Formats [`Millis`] as RFC 3339 (UTC), as the wire's `at` fields want.
pub fn rfc3339(at: Millis) -> String {
    let nanos = i128::from(at) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The inverse of [`rfc3339`]: an RFC 3339 time as Unix milliseconds
/// (`None` when it is not one).
pub fn millis_of_rfc3339(text: &str) -> Option<Millis> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Millis::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_parses_tiers_and_desks() {
        assert_eq!(
            "premium".parse::<Team>().ok(),
            Some(Team::Tier(Tier::Premium))
        );
        assert_eq!("fraud".parse::<Team>().ok(), Some(Team::Desk(Desk::Fraud)));
        assert!("gold".parse::<Team>().is_err());
    }

    #[test]
    fn boosts_parse_and_keep_defaults() {
        let b: TierBoosts = "premium=30".parse().expect("valid");
        assert_eq!(b.millis(Tier::Premium), 30_000);
        assert_eq!(b.millis(Tier::Business), 60_000);
        assert!("gold=1".parse::<TierBoosts>().is_err());
        assert!("premium=x".parse::<TierBoosts>().is_err());
    }

    /// Ids the hub never issues, whatever the kind: separators and
    /// wildcards that would name another key, nothing, too long, unicode.
    const NEVER_ISSUED: &[&str] = &["", "*", "?", ":", " ", "\n", "\u{0}", "é", "٣"];

    #[test]
    fn conversation_ids_parse_exactly_as_the_hub_issues_them() {
        for issued in [
            ConversationId::generate(),
            ConversationId::for_client_key(&"alice".into(), "k-1"),
        ] {
            assert_eq!(ConversationId::parse(issued.as_str()), Ok(issued.clone()));
            assert_eq!(issued.as_str().parse::<ConversationId>(), Ok(issued));
        }
        let real = "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b";
        assert!(ConversationId::parse(real).is_ok());
        let refused = [
            format!("{real}:monitors"),
            format!("{real}:*"),
            format!("{real}0"),
            real[..real.len() - 1].to_owned(),
            real.to_uppercase(),
            format!("c-{}", real[2..].to_uppercase()),
            format!("C-{}", &real[2..]),
            format!("x-{}", &real[2..]),
            format!("c-{}g", &real[2..33]),
            format!("c-{}é", &real[2..33]),
            format!("c-{}٣", &real[2..33]),
            format!(" {real}"),
            format!("{real}\n"),
            "c-".into(),
            "c1".into(),
            "c-1".into(),
            format!("c-{}", "a".repeat(4000)),
        ];
        for bad in refused
            .iter()
            .map(String::as_str)
            .chain(NEVER_ISSUED.iter().copied())
        {
            assert_eq!(
                ConversationId::parse(bad),
                Err(ConversationId::SHAPE),
                "{bad:?}"
            );
        }
        assert!(!ConversationId::SHAPE.to_string().contains(real));
    }

    #[test]
    fn callback_refs_parse_exactly_as_the_hub_issues_them() {
        for desk in Desk::ALL {
            for n in [0, 42, 999_999] {
                let issued = CallbackRef::numbered(*desk, n);
                assert_eq!(CallbackRef::parse(issued.as_str()), Ok(issued));
            }
        }
        assert_eq!(
            CallbackRef::numbered(Desk::Fraud, 4211).as_str(),
            "FR-004211"
        );
        let refused = [
            "ID-482913:monitors",
            "ID-482913*",
            "ID-4829130",
            "ID-48291",
            "id-482913",
            "Id-482913",
            "XX-482913",
            "CB-1",
            "ID-48291a",
            "ID-48291٣",
            "ID-+48291",
            "ID-482913 ",
            "ID482913",
        ];
        for bad in refused.iter().chain(NEVER_ISSUED) {
            assert_eq!(CallbackRef::parse(bad), Err(CallbackRef::SHAPE), "{bad:?}");
        }
    }

    #[test]
    fn client_keys_are_1_to_64_of_letters_digits_dash_underscore() {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accepted = [
            "a1",
            "k",
            "m-7f3a",
            "t-8c1f",
            "a_0001",
            "lt-c-12-1700000000000",
            "x3lk2ja0b9c8d7",
            uuid.as_str(),
        ];
        for ok in accepted {
            assert_eq!(ClientKey::parse(ok).map(String::from), Ok(ok.to_owned()));
        }
        let max = "k".repeat(ClientKey::MAX_LEN);
        assert!(ClientKey::parse(&max).is_ok());
        let refused = [
            "k".repeat(ClientKey::MAX_LEN + 1),
            "a:b".into(),
            "lt:c:1:2".into(),
            "k 1".into(),
            "k\t".into(),
            "k.1".into(),
            "k/1".into(),
            "{k}".into(),
            "ké".into(),
        ];
        for bad in refused
            .iter()
            .map(String::as_str)
            .chain(NEVER_ISSUED.iter().copied())
        {
            assert_eq!(ClientKey::parse(bad), Err(ClientKey::SHAPE), "{bad:?}");
        }
        // Serde goes through the same parser.
        assert!(serde_json::from_str::<ClientKey>("\"a:b\"").is_err());
        let k: ClientKey = serde_json::from_str("\"m-1\"").expect("valid");
        assert_eq!(serde_json::to_string(&k).expect("json"), "\"m-1\"");
    }

    #[test]
    fn ids_read_back_from_the_store_are_trusted_as_they_are() {
        // The hub's own records deserialise without the client checks, so
        // whatever a store holds never fails (or panics) on the way out.
        let id: ConversationId = serde_json::from_str("\"c1\"").expect("trusted");
        assert_eq!(id, ConversationId("c1".into()));
        let r: CallbackRef = serde_json::from_str("\"CB-1\"").expect("trusted");
        assert_eq!(r.as_str(), "CB-1");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
