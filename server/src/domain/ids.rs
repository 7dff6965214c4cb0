//! Ids: users, conversations, callback references, clients' idempotency
//! keys and transcript positions. Each client-given id has a `parse` for the
//! exact shape the hub issues; the tuple constructors are the trusted path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::names::Desk;

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
