//! Wire protocol v1: the JSON frames clients and the hub exchange over `/ws`.
//!
//! This is the only module that knows the frames' JSON ([`render`] turns
//! records and events into frames). Inbound text becomes a
//! [`ClientFrame`] (or a [`FrameError`] that maps to an `error` frame);
//! outbound, the hub builds [`ServerFrame`]s and [`ServerFrame::to_text`]
//! serialises them. `docs/protocol.md` documents every frame with an example.

pub mod render;

use serde::{Deserialize, Serialize};

use crate::domain::canned::CannedReply;
use crate::domain::conversation::Entry;
use crate::domain::inbox::{CardholderInfo, InboxChange, InboxItem};
use crate::domain::queue::{Availability, QueueView};
use crate::domain::CallbackOutcome;
use crate::domain::{
    AgentState, Author, CallbackRef, CardholderPresence, ClientKey, ConversationId,
    ConversationKind, ConversationStatus, Desk, EndReason, Role, Seq, Team, Tier, Topic, UserId,
};

/// The protocol version announced in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest message text, in characters (SPEC: 1–4000).
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest client idempotency key, in bytes (SPEC: 1–64 of `[A-Za-z0-9_-]`,
/// see [`ClientKey`]).
pub const MAX_CLIENT_ID_LEN: usize = ClientKey::MAX_LEN;

/// Most transcript entries one reply frame carries (SPEC: 200); a client
/// asks again for the rest, so no request makes the hub hold a whole
/// transcript for it.
pub const TRANSCRIPT_PAGE: usize = 200;

/// Past conversations a `history` reply lists unless asked for fewer or
/// more (at most [`TRANSCRIPT_PAGE`]).
pub const HISTORY_PAGE: usize = 20;

/// Longest internal note, transfer note or rating comment kept, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Longest inbound frame in bytes; larger ones close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// WebSocket close codes the hub uses.
pub mod close {
    /// Authentication failed or the token expired.
    pub const AUTH_FAILED: u16 = 4401;
    /// No `auth` frame arrived in time.
    pub const AUTH_TIMEOUT: u16 = 4408;
    /// The client fell too far behind reading its events.
    pub const TOO_SLOW: u16 = 4429;
    /// The client sent too much for too long.
    pub const FLOODING: u16 = 4430;
    /// The user opened more connections than allowed; this, the oldest, was closed.
    pub const REPLACED: u16 = 4409;
    /// The hub is shutting down; reconnect (to another node).
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The peer stopped answering pings.
    pub const IDLE: u16 = 4000;
    /// The node's event feed was interrupted: reconnect and `sync`.
    pub const RESYNC: u16 = 1012;
}

/// A frame a client sends. Cardholders and agents share the type names
/// (`say`, `typing`, `read`, `sync`); agents add `conversation`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First-frame authentication (browsers cannot set headers).
    Auth {
        /// The JWT.
        token: String,
    },
    /// Cardholder: open a conversation or get the open one back; with
    /// `mode: "message"`, open a secure-message thread (`text` required).
    Start {
        /// What the cardholder needs help with.
        topic: Topic,
        /// An optional first message (required for a thread).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// `chat` (the default) or `message`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<ConversationKind>,
        /// Extension, with `mode: "message"`: the client's key for this
        /// thread, so a resend (after `unavailable`) opens it once and
        /// stores its first message once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_key")]
        id: Option<ClientKey>,
    },
    /// A chat message.
    Say {
        /// Which conversation: agents always; cardholders to name a thread
        /// (absent: their live chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_conversation")]
        conversation: Option<ConversationId>,
        /// The sender's idempotency key.
        #[serde(deserialize_with = "edge::key")]
        id: ClientKey,
        /// The message, 1–4000 characters.
        text: String,
    },
    /// Typing indicator.
    Typing {
        /// Which conversation (cardholders: a thread, absent: the live chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_conversation")]
        conversation: Option<ConversationId>,
        /// Typing or stopped.
        on: bool,
    },
    /// Read receipt: everything up to `seq` was seen.
    Read {
        /// Which conversation (cardholders: a thread, absent: the live chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_conversation")]
        conversation: Option<ConversationId>,
        /// Last seen entry.
        seq: Seq,
    },
    /// Replay transcript entries after `after`.
    Sync {
        /// Which conversation (cardholders: a thread, absent: the live chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_conversation")]
        conversation: Option<ConversationId>,
        /// Replay entries with a greater seq.
        after: Seq,
    },
    /// Cardholder: leave the queue or end the chat.
    Leave,
    /// Cardholder, extension: while its chat waits, turn it into a phone
    /// call back from the desk its topic belongs to (identity or fraud
    /// topics only; the widget offers it when nobody can chat).
    CallMeBack,
    /// Agent: availability toggle.
    Status {
        /// `available` or `away`.
        state: AgentState,
    },
    /// Agent: close a chat.
    End {
        /// The conversation to close.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
    },
    /// Agent: move a chat to the head of another tier's queue.
    Transfer {
        /// The conversation to move.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// The tier whose queue takes it.
        tier: Tier,
        /// A note for the next agent (never shown to the cardholder).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Agent: an internal note on a chat it holds (staff only).
    Note {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// The note, 1–[`MAX_NOTE_CHARS`] characters.
        text: String,
    },
    /// Cardholder: rate an ended conversation, once.
    Rate {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// 1–5.
        score: u8,
        /// An optional comment (at most [`MAX_NOTE_CHARS`] characters kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Agent: turn a chat into a phone callback request.
    Escalate {
        /// The conversation to escalate.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// Which desk calls back.
        desk: Desk,
        /// A note for the desk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Desk agent: list a desk's open callback requests.
    Callbacks {
        /// The desk.
        desk: Desk,
    },
    /// Desk agent: take a callback request.
    ClaimCallback {
        /// The request.
        #[serde(rename = "ref", deserialize_with = "edge::reference")]
        reference: CallbackRef,
    },
    /// Desk agent: close a claimed callback request.
    CompleteCallback {
        /// The request.
        #[serde(rename = "ref", deserialize_with = "edge::reference")]
        reference: CallbackRef,
        /// How the call went.
        outcome: CallbackOutcome,
        /// A note on the call, kept in the request's history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Agent or supervisor: ask for the queue overview (extension).
    Queues,
    /// Past conversations, newest first: the cardholder's own, or (agents)
    /// those of the cardholder of `conversation`, a chat assigned to them now.
    History {
        /// Agent only: the chat whose cardholder's history is asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_conversation")]
        conversation: Option<ConversationId>,
        /// The oldest conversation of the previous page: older ones follow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "edge::some_before")]
        before: Option<ConversationId>,
        /// How many at most (default [`HISTORY_PAGE`], at most [`TRANSCRIPT_PAGE`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// One page of a past conversation's transcript (the caller's own, or
    /// for agents one of the cardholder they serve now).
    Transcript {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// Entries with a greater seq (default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Seq>,
    },
    /// Cardholder: list my secure-message threads (answered `threads`).
    Threads,
    /// Agent: a team's secure-message inbox, earliest reply due first.
    Inbox {
        /// The team (a tier the agent serves).
        team: Tier,
    },
    /// Agent: take a thread from an inbox (atomic: one agent wins).
    ClaimMessage {
        /// The thread.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
    },
    /// Agent: close a thread it holds as answered (reason `resolved`).
    Resolve {
        /// The thread.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
    },
    /// Supervisor: send me `overview` frames (at most one a second) while
    /// this connection lasts.
    Watch,
    /// Supervisor: set an agent of a supervised team available or away.
    SetAgentState {
        /// The agent.
        #[serde(deserialize_with = "edge::agent")]
        agent: UserId,
        /// The new state.
        state: AgentState,
    },
    /// Supervisor: follow a chat of a supervised tier read-only: its
    /// transcript now (a `transcript` page, then `sync` for more), its
    /// entries and end as they happen. Invisible to the cardholder.
    Monitor {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
    },
    /// Supervisor: stop following a chat.
    Unmonitor {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
    },
    /// Supervisor: take an active chat of a supervised tier from its agent
    /// and put it at the head of a queue (its own tier's by default).
    Reassign {
        /// The conversation.
        #[serde(deserialize_with = "edge::conversation")]
        conversation: ConversationId,
        /// The queue to put it in.
        #[serde(default)]
        tier: Option<Tier>,
    },
}

impl ClientFrame {
    /// Parses one inbound text frame, classifying failures as SPEC's codes.
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => Ok(frame),
            Err(err) => Err(FrameError::classify(text, &err)),
        }
    }
}

/// The ids a [`ClientFrame`] carries, parsed as they are read (SPEC
/// "Identity"): each must have the exact shape the hub issues, so a
/// malformed one is a `bad_field` that names the field, before anything
/// reaches the store. (The domain types' own `Deserialize` trusts its input:
/// it reads back what the hub stored.)
mod edge {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    use crate::domain::{BadId, CallbackRef, ClientKey, ConversationId, UserId};

    /// A string parsed into `T`, its refusal naming `field`.
    fn parsed<'de, D, T>(d: D, field: &str) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<String, Error = BadId>,
    {
        checked(String::deserialize(d)?, field)
    }

    /// `s` as `T`, or the refusal naming `field`.
    fn checked<T, E>(s: String, field: &str) -> Result<T, E>
    where
        T: TryFrom<String, Error = BadId>,
        E: serde::de::Error,
    {
        T::try_from(s).map_err(|e| E::custom(format_args!("`{field}` is {e}")))
    }

    /// An optional string (absent or `null`: `None`) parsed into `T`.
    fn some<'de, D, T>(d: D, field: &str) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<String, Error = BadId>,
    {
        Option::<String>::deserialize(d)?
            .map(|s| checked(s, field))
            .transpose()
    }

    pub(super) fn conversation<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<ConversationId, D::Error> {
        parsed(d, "conversation")
    }

    pub(super) fn some_conversation<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ConversationId>, D::Error> {
        some(d, "conversation")
    }

    pub(super) fn some_before<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ConversationId>, D::Error> {
        some(d, "before")
    }

    pub(super) fn reference<'de, D: Deserializer<'de>>(d: D) -> Result<CallbackRef, D::Error> {
        parsed(d, "ref")
    }

    pub(super) fn key<'de, D: Deserializer<'de>>(d: D) -> Result<ClientKey, D::Error> {
        parsed(d, "id")
    }

    pub(super) fn some_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClientKey>, D::Error> {
        some(d, "id")
    }

    /// An agent named by a supervisor: any `sub` a token may carry (SPEC
    /// "Identity": 1–128 bytes, no control characters), nothing else.
    pub(super) fn agent<'de, D: Deserializer<'de>>(d: D) -> Result<UserId, D::Error> {
        let s = String::deserialize(d)?;
        UserId::parse(&s).map_err(|_| {
            D::Error::custom(format_args!(
                "`agent` is not a user id (1 to {} bytes, no control characters)",
                crate::domain::MAX_SUB_BYTES
            ))
        })
    }
}

/// Why an inbound frame was refused, with the `id` it carried (for `ref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// SPEC error code.
    pub code: ErrorCode,
    /// A client-safe explanation.
    pub message: String,
    /// The offending frame's `id`, when it had one.
    pub reference: Option<String>,
}

impl FrameError {
    fn classify(text: &str, err: &serde_json::Error) -> FrameError {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return FrameError {
                code: ErrorCode::BadJson,
                message: "the frame is not valid JSON".into(),
                reference: None,
            };
        };
        // Only an `id` of the shape the hub accepts is echoed as `ref`.
        let reference = value
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|id| ClientKey::parse(id).is_ok())
            .map(str::to_owned);
        let Some(object) = value.as_object() else {
            return FrameError {
                code: ErrorCode::BadJson,
                message: "a frame must be a JSON object".into(),
                reference,
            };
        };
        let kind = match object.get("type") {
            None => {
                return FrameError {
                    code: ErrorCode::UnknownType,
                    message: "the frame has no `type`".into(),
                    reference,
                }
            }
            Some(kind) => kind.as_str(),
        };
        match kind {
            None => FrameError {
                code: ErrorCode::UnknownType,
                message: "the frame's `type` must be a string".into(),
                reference,
            },
            Some(kind) if !KNOWN_CLIENT_TYPES.contains(&kind) => FrameError {
                code: ErrorCode::UnknownType,
                message: format!("unknown frame type `{}`", truncate(kind, 40)),
                reference,
            },
            Some(kind) => FrameError {
                code: ErrorCode::BadField,
                // serde's message names the field and what it expected, never the value.
                message: format!("bad `{kind}` frame: {}", strip_position(&err.to_string())),
                reference,
            },
        }
    }
}

/// Every `type` a client may send.
const KNOWN_CLIENT_TYPES: &[&str] = &[
    "auth",
    "start",
    "say",
    "typing",
    "read",
    "sync",
    "leave",
    "call_me_back",
    "status",
    "end",
    "transfer",
    "note",
    "rate",
    "escalate",
    "callbacks",
    "claim_callback",
    "complete_callback",
    "queues",
    "history",
    "transcript",
    "threads",
    "inbox",
    "claim_message",
    "resolve",
    "watch",
    "set_agent_state",
    "monitor",
    "unmonitor",
    "reassign",
];

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// SPEC's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not an object.
    BadJson,
    /// `type` missing or not known.
    UnknownType,
    /// A field is missing or has the wrong type or value.
    BadField,
    /// Text over the length limit.
    TooLong,
    /// Too many frames; slow down.
    RateLimited,
    /// The caller's role or state does not allow this.
    NotAllowed,
    /// There is no such conversation for the caller.
    NoConversation,
    /// The outcome is unknown (the store did not answer in time): resend
    /// with the same `id`; a message is never stored twice.
    Unavailable,
    /// This node is behind (overloaded) and refused new work: retry
    /// shortly, or on another node. Nothing was done.
    Busy,
    /// The conversation holds as many entries or bytes as it may
    /// (`--max-transcript-entries`, `--max-transcript-bytes`): the message
    /// was not stored; the agent can still end or transfer it.
    TranscriptFull,
}

/// A conversation's state as `welcome` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    /// Conversation id.
    pub id: ConversationId,
    /// Queued, active or ended.
    pub status: ConversationStatus,
    /// The queue tier it waits in (or was served from).
    pub tier: Tier,
    /// Seq of the last transcript entry (0 when empty).
    pub last_seq: Seq,
    /// Extension: the topic picked at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    /// Extension (agents): who the chat is with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cardholder: Option<CardholderInfo>,
    /// Extension (cardholders): the serving agent, when active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentInfo>,
    /// Extension: `message` for a secure-message thread (absent: a chat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ConversationKind>,
    /// Extension (agents): earlier hand-overs with their notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfers: Vec<TransferLine>,
    /// Extension (agents): internal notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<NoteLine>,
}

/// A hand-over between agents as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine {
    /// RFC 3339.
    pub at: String,
    /// The queue it was served from.
    pub from_tier: Option<Tier>,
    /// The queue it went to.
    pub to_tier: Tier,
    /// The agent who handed it over.
    pub by: Option<String>,
    /// That agent's note for the next one.
    pub note: Option<String>,
}

/// An internal note as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteLine {
    /// RFC 3339.
    pub at: String,
    /// The agent's name.
    pub by: String,
    /// The note.
    pub text: String,
}

/// The agent as a cardholder sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Display name.
    pub name: String,
}

/// One past conversation in `history` (and in an agent's `assigned`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// The conversation.
    pub id: ConversationId,
    /// `chat`, or `message` for a secure-message thread.
    pub kind: String,
    /// The queue it was served from.
    pub tier: Tier,
    /// What it was about.
    pub topic: Topic,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub ended_at: String,
    /// Why it ended.
    pub end_reason: EndReason,
    /// The agent who served it last (null when nobody did).
    pub agent_name: Option<String>,
}

/// A callback request as desks and cardholders see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackView {
    /// Reference read out to the cardholder.
    #[serde(rename = "ref")]
    pub reference: CallbackRef,
    /// Which desk calls.
    pub desk: Desk,
    /// Cardholder id.
    pub sub: UserId,
    /// Cardholder's tier.
    pub tier: Tier,
    /// `requested`, `claimed`, `reached`, `no_answer` or `failed`.
    pub status: String,
    /// Calls attempted so far.
    pub attempts: u32,
    /// The desk agent holding it.
    pub claimed_by: Option<UserId>,
    /// RFC 3339.
    pub created_at: String,
    /// Why it was raised (trigger or agent note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The conversation it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    /// Last four digits of the phone on file (the desk shows them masked
    /// as `•••• 1234`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_last4: Option<String>,
    /// Extension: outcomes of earlier calls, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// Staff: the cardholder's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why, structured: staff see the kind, topic, rule and agent's note;
    /// the cardholder the kind and the concern only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<CauseView>,
    /// Staff: each call so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallLine>,
}

/// Why a chat became a callback request, as a view sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseView {
    /// `topic`, `first_message`, `agent` or `asked` (the cardholder asked).
    pub kind: String,
    /// What the cardholder's screen is worded by: `verification_code`,
    /// `locked`, `fraud` or `identity`.
    pub concern: crate::domain::callback::Concern,
    /// Staff: the topic (chosen, or the chat's when an agent escalated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    /// Staff: the classifier rule that matched the first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Staff: the escalating agent's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One call of a desk agent, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLine {
    /// RFC 3339.
    pub at: String,
    /// `reached`, `no_answer` or `failed`.
    pub outcome: CallbackOutcome,
    /// The desk agent.
    pub by: Option<UserId>,
    /// The agent's note on the call.
    pub note: Option<String>,
}

/// One tier queue in a supervisor's `overview`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLine {
    /// Which queue.
    pub tier: Tier,
    /// Conversations waiting.
    pub waiting: u64,
    /// Seconds the oldest has waited (0 when empty).
    pub oldest_wait_s: u64,
    /// Share of the recently answered conversations (`answered`) that
    /// waited at most `sla_s`; `null` before anyone was answered.
    pub service_level: Option<f64>,
    /// How many recently answered conversations the service level counts.
    pub answered: usize,
}

/// One agent in a supervisor's `overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLine {
    /// Agent id.
    pub sub: UserId,
    /// Display name.
    pub name: String,
    /// `available` or `away`.
    pub state: AgentState,
    /// Whether the agent has a connection open.
    pub online: bool,
    /// Chats it holds.
    pub chats: usize,
    /// Its limit.
    pub max_chats: u8,
    /// Its teams.
    pub teams: Vec<Team>,
    /// Seconds since its state last changed.
    pub in_state_s: u64,
    /// The chats it holds.
    pub conversations: Vec<ConversationId>,
}

/// One desk in a supervisor's `overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskLine {
    /// The desk.
    pub desk: Desk,
    /// Open callback requests.
    pub open: u64,
}

/// One team's secure-message inbox in a supervisor's `overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxLine {
    /// The team.
    pub team: Team,
    /// Threads waiting for an answer.
    pub depth: u64,
    /// Seconds the oldest unanswered thread has waited.
    pub oldest_wait_s: u64,
}

/// One secure-message thread as its cardholder sees it (`welcome`, `threads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadView {
    /// The thread.
    pub conversation: ConversationId,
    /// What it is about.
    pub topic: Topic,
    /// `queued` (waiting for an agent), `active` (an agent has it),
    /// `resolved` (answered; a new message reopens it) or `ended`.
    pub status: ConversationStatus,
    /// Seq of its last entry.
    pub last_seq: Seq,
    /// Agent entries after the cardholder's last `read`.
    pub unread: u32,
    /// RFC 3339 time of its last entry (null when empty).
    pub last_at: Option<String>,
}

/// One supervisor action in the console's audit list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLine {
    /// RFC 3339.
    pub at: String,
    /// The supervisor.
    pub by: UserId,
    /// `set_agent_state`, `reassign`.
    pub action: String,
    /// The agent or conversation acted on.
    pub target: String,
    /// The details.
    pub detail: String,
}

/// A frame the hub sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after authentication.
    Welcome {
        /// The caller's role.
        role: Role,
        /// The caller's id.
        sub: UserId,
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Cardholder: the open conversation, if any.
        conversation: Option<ConversationState>,
        /// Agent: teams.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teams: Option<Vec<Team>>,
        /// Agent: concurrent chat limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_chats: Option<u8>,
        /// Agent: active conversations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversations: Option<Vec<ConversationState>>,
        /// Agent: current availability.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<AgentState>,
        /// Cardholder: open callback requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        callbacks: Option<Vec<CallbackView>>,
        /// Agent: the canned replies of its teams (`--canned-replies`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canned: Option<Vec<CannedReply>>,
        /// Cardholder: its secure-message threads, newest first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threads: Option<Vec<ThreadView>>,
        /// Cardholder: how soon its tier's secure messages are answered,
        /// seconds (`--message-sla`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_reply_within_s: Option<u64>,
        /// Cardholder: the topics whose waiting chat `call_me_back` turns
        /// into a call back (`classifier::call_back_topics`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_back_topics: Option<Vec<Topic>>,
    },
    /// Cardholder: its secure-message threads, newest first (the reply to
    /// `threads` and to `start` with `mode: "message"`).
    Threads {
        /// The threads.
        threads: Vec<ThreadView>,
        /// How soon its tier's secure messages are answered, seconds.
        message_reply_within_s: u64,
    },
    /// Agent: a team's inbox, earliest reply due first (the reply to `inbox`).
    Inbox {
        /// The team.
        team: Tier,
        /// The waiting threads.
        items: Vec<InboxItem>,
    },
    /// Agent: a thread entered or left the inbox of one of its teams.
    InboxItem {
        /// The team.
        team: Tier,
        /// The thread.
        conversation: ConversationId,
        /// `added` or `removed`.
        change: InboxChange,
        /// The thread as the inbox lists it (when added).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<InboxItem>,
    },
    /// Cardholder: place in the queue.
    Queued {
        /// The waiting conversation.
        conversation: ConversationId,
        /// Its tier queue.
        tier: Tier,
        /// 1 = next.
        position: u64,
        /// Estimated seconds to wait; null when unknown.
        eta_s: Option<u64>,
        /// Whether anyone can answer soon, and what else to offer.
        #[serde(flatten)]
        availability: Availability,
    },
    /// Both: a conversation was paired.
    Assigned {
        /// The conversation.
        conversation: ConversationId,
        /// To the cardholder: the agent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentInfo>,
        /// To the agent: the cardholder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cardholder: Option<CardholderInfo>,
        /// To the agent: the topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<Topic>,
        /// To the agent: seconds the cardholder waited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waited_s: Option<u64>,
        /// To the agent: the transcript so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<Vec<Entry>>,
        /// To the agent: the cardholder's last conversations, newest first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history: Option<Vec<HistoryItem>>,
        /// `message` for a secure-message thread (absent: a chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<ConversationKind>,
        /// To the agent: earlier hand-overs with their notes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transfers: Option<Vec<TransferLine>>,
        /// To the agent: internal notes so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<Vec<NoteLine>>,
    },
    /// Staff: an internal note was added to a chat.
    Note {
        /// The conversation.
        conversation: ConversationId,
        /// The note.
        note: NoteLine,
    },
    /// Cardholder: the rating was kept.
    Rated {
        /// The conversation.
        conversation: ConversationId,
        /// The score given.
        score: u8,
    },
    /// Both: a transcript entry.
    Msg {
        /// The conversation.
        conversation: ConversationId,
        /// The entry.
        #[serde(flatten)]
        entry: Entry,
    },
    /// Both: the other side's typing indicator.
    Typing {
        /// The conversation.
        conversation: ConversationId,
        /// Who is typing.
        from: Author,
        /// Typing or stopped.
        on: bool,
    },
    /// Both: a read receipt.
    Read {
        /// The conversation.
        conversation: ConversationId,
        /// Who read.
        from: Author,
        /// Up to which entry.
        seq: Seq,
    },
    /// Cardholder: the chat became a callback request.
    Escalated {
        /// The conversation.
        conversation: ConversationId,
        /// The request.
        callback: CallbackView,
    },
    /// Both: the conversation ended (or left this agent).
    Ended {
        /// The conversation.
        conversation: ConversationId,
        /// Why.
        reason: EndReason,
    },
    /// Supervisor: it no longer monitors the chat, and why (it left the
    /// supervisor's teams, it ended, or the supervisor's own `unmonitor`);
    /// nothing more of it reaches the supervisor.
    MonitorEnded {
        /// The conversation.
        conversation: ConversationId,
        /// `out_of_scope` | `ended` | `unmonitored`.
        reason: crate::domain::MonitorEndReason,
    },
    /// Both: a page of transcript entries, the reply to `sync` (and to
    /// `transcript` requests): at most [`TRANSCRIPT_PAGE`] entries; `more`
    /// when the client must ask again after the last one.
    Transcript {
        /// The conversation.
        conversation: ConversationId,
        /// Entries in seq order.
        entries: Vec<Entry>,
        /// Whether entries follow the last one given.
        more: bool,
    },
    /// Both: an earlier entry's text, now masked (a card number typed over
    /// two messages): replace the shown text of entry `seq`.
    Redact {
        /// The conversation.
        conversation: ConversationId,
        /// The entry.
        seq: Seq,
        /// Its new text.
        text: String,
    },
    /// Desk agent: a desk's open requests, in desk order.
    Callbacks {
        /// The desk.
        desk: Desk,
        /// The requests.
        items: Vec<CallbackView>,
        /// The desk's requests this agent closed in the last 24 hours that
        /// the hub still holds, newest first (the pane lists today's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        done: Option<Vec<CallbackView>>,
    },
    /// Desk agent: a request appeared or changed.
    Callback {
        /// The request.
        request: CallbackView,
    },
    /// Agent or supervisor: queue overview (extension).
    Queues {
        /// One row per tier.
        queues: Vec<QueueView>,
    },
    /// Past conversations, newest first, the reply to `history`.
    History {
        /// To an agent: the chat whose cardholder this is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation: Option<ConversationId>,
        /// One page.
        conversations: Vec<HistoryItem>,
        /// Whether older ones follow (ask with `before` = the last id).
        more: bool,
    },
    /// Supervisor: the live picture of the supervised teams, after `watch`
    /// and then at most once a second.
    Overview {
        /// The service-level target, seconds (`--sla-seconds`).
        sla_s: u64,
        /// The supervised tiers' queues.
        queues: Vec<QueueLine>,
        /// The supervised teams' agents.
        agents: Vec<AgentLine>,
        /// The supervised desks.
        desks: Vec<DeskLine>,
        /// The supervised tier teams' secure-message inboxes.
        inboxes: Vec<InboxLine>,
        /// The latest supervisor actions, newest first.
        audit: Vec<AuditLine>,
    },
    /// Agent: whether a chat's cardholder is connected.
    Presence {
        /// The conversation.
        conversation: ConversationId,
        /// `online`, `away` (disconnected, within the grace period) or `gone`.
        cardholder: CardholderPresence,
    },
    /// Agent: a supervisor changed its availability.
    Status {
        /// The new state.
        state: AgentState,
        /// Who changed it.
        by: String,
    },
    /// Both: a refused frame or failed operation.
    Error {
        /// SPEC error code.
        code: ErrorCode,
        /// A client-safe explanation.
        message: String,
        /// The offending frame's `id`.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ServerFrame {
    /// Serialises the frame. Our frames hold only strings, numbers and
    /// enums, so this cannot fail; a failure would be a bug, reported as an
    /// error frame rather than a panic.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"unavailable","message":"internal encoding error"}"#.into()
        })
    }

    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            reference,
        }
    }
}

impl From<FrameError> for ServerFrame {
    fn from(e: FrameError) -> Self {
        ServerFrame::error(e.code, e.message, e.reference)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn classifies_bad_input() {
        assert_eq!(
            ClientFrame::parse("{nope").expect_err("must fail").code,
            ErrorCode::BadJson
        );
        assert_eq!(
            ClientFrame::parse("[1]").expect_err("must fail").code,
            ErrorCode::BadJson
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"dance"}"#)
                .expect_err("must fail")
                .code,
            ErrorCode::UnknownType
        );
        let e = ClientFrame::parse(r#"{"type":"say","id":"k1"}"#).expect_err("must fail");
        assert_eq!(e.code, ErrorCode::BadField);
        assert_eq!(e.reference.as_deref(), Some("k1"));
        assert!(e.message.contains("text"), "{}", e.message);
    }

    #[test]
    fn type_that_is_not_a_string_is_named() {
        for text in [r#"{"type":42}"#, r#"{"type":null}"#, r#"{"type":["say"]}"#] {
            let e = ClientFrame::parse(text).expect_err("must fail");
            assert_eq!(e.code, ErrorCode::UnknownType, "{text}");
            assert_eq!(e.message, "the frame's `type` must be a string", "{text}");
        }
        let e = ClientFrame::parse(r#"{"id":"k"}"#).expect_err("must fail");
        assert_eq!(e.message, "the frame has no `type`");
        assert_eq!(e.reference.as_deref(), Some("k"));
    }

    /// One valid frame of every type a client sends.
    pub(crate) const VALID_FRAMES: &[&str] = &[
        r#"{"type":"auth","token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"}"#,
        r#"{"type":"start","topic":"billing","text":"hi, my card 4111 1111 1111 1111"}"#,
        r#"{"type":"start","topic":"locked_account"}"#,
        r#"{"type":"say","id":"k1","text":"hello"}"#,
        r#"{"type":"say","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","id":"k2","text":"héllo \u00e9 \n"}"#,
        r#"{"type":"typing","on":true}"#,
        r#"{"type":"typing","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","on":false}"#,
        r#"{"type":"read","seq":3}"#,
        r#"{"type":"read","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","seq":3}"#,
        r#"{"type":"sync","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","after":0}"#,
        r#"{"type":"leave"}"#,
        r#"{"type":"call_me_back"}"#,
        r#"{"type":"status","state":"available"}"#,
        r#"{"type":"end","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"transfer","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","tier":"premium"}"#,
        r#"{"type":"note","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","text":"verified"}"#,
        r#"{"type":"rate","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","score":5}"#,
        r#"{"type":"escalate","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","desk":"fraud","note":"card stolen"}"#,
        r#"{"type":"callbacks","desk":"identity"}"#,
        r#"{"type":"claim_callback","ref":"ID-000001"}"#,
        r#"{"type":"complete_callback","ref":"FR-004211","outcome":"no_answer"}"#,
        r#"{"type":"queues"}"#,
        r#"{"type":"history","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","before":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","limit":5}"#,
        r#"{"type":"transcript","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","after":0}"#,
        r#"{"type":"start","topic":"billing","mode":"message","text":"Why was I charged twice?"}"#,
        r#"{"type":"start","topic":"billing","mode":"message","text":"Again?","id":"t-8c1f"}"#,
        r#"{"type":"say","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","id":"k3","text":"Any news?"}"#,
        r#"{"type":"threads"}"#,
        r#"{"type":"inbox","team":"standard"}"#,
        r#"{"type":"claim_message","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"resolve","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"watch"}"#,
        r#"{"type":"set_agent_state","agent":"fz-a","state":"away"}"#,
        r#"{"type":"monitor","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"unmonitor","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"reassign","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","tier":"premium"}"#,
    ];

    /// The conversation id [`VALID_FRAMES`] name (of the shape the hub issues).
    pub(crate) const SAMPLE_CONVERSATION: &str = "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b";

    /// Ids the hub never issues, of every kind: another key's suffix, a
    /// wildcard, nothing, the wrong case or length, unicode, a separator.
    pub(crate) const MALFORMED_IDS: &[&str] = &[
        "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b:monitors",
        "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b:*",
        "*",
        "",
        "c-9F1C2E7A4B5D4E0F8A6B3C2D1E0F9A8B",
        "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b0",
        "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8",
        "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8é",
        "ID-000001:monitors",
        "id-000001",
        "ID-0000011",
        "a:b",
        "k 1",
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        "\n",
    ];

    /// Values of every JSON type, including ones parsers get wrong.
    const ODD_VALUES: &[&str] = &[
        "null",
        "true",
        "0",
        "-1",
        "1.5",
        "1e999999",
        "-1e-999999",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890123456789",
        "\"\"",
        "\"\\ud800\"",
        "\"\\u0000\"",
        "\"say\"",
        "[]",
        "{}",
        "[1,\"a\",null]",
        "{\"type\":\"say\"}",
    ];

    /// A mutation of `frame`, driven by `rng`.
    pub(crate) fn mutate(rng: &mut impl rand::Rng, frame: &str) -> String {
        let mut bytes = frame.as_bytes().to_vec();
        match rng.random_range(0..10) {
            // Flip, replace, insert or delete bytes.
            0 => {
                for _ in 0..rng.random_range(1..4) {
                    if let Some(i) = (!bytes.is_empty()).then(|| rng.random_range(0..bytes.len())) {
                        bytes[i] ^= 1 << rng.random_range(0..8);
                    }
                }
            }
            1 => {
                let i = rng.random_range(0..=bytes.len());
                let inserted = *b"{}[]\":,0-e.\\ \"";
                bytes.insert(i, inserted[rng.random_range(0..inserted.len())]);
            }
            2 if !bytes.is_empty() => {
                let i = rng.random_range(0..bytes.len());
                bytes.remove(i);
            }
            // Truncate.
            3 => bytes.truncate(rng.random_range(0..=bytes.len())),
            // Swap a field's value for a value of another type.
            4 | 5 => {
                if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&bytes) {
                    let keys: Vec<String> = object.keys().cloned().collect();
                    let key = keys[rng.random_range(0..keys.len())].clone();
                    let odd = ODD_VALUES[rng.random_range(0..ODD_VALUES.len())];
                    object.remove(&key);
                    let rest = serde_json::Value::Object(object).to_string();
                    let rest = rest.trim_start_matches('{').trim_end_matches('}');
                    let comma = if rest.is_empty() { "" } else { "," };
                    return format!("{{{rest}{comma}\"{key}\":{odd}}}");
                }
            }
            // Deep nesting inside a field, or around the whole frame.
            6 => {
                let depth = rng.random_range(1..400);
                let (open, close) = if rng.random_bool(0.5) {
                    ("[", "]")
                } else {
                    ("{\"a\":", "}")
                };
                let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                return if rng.random_bool(0.5) {
                    frame.replacen("}", &format!(",\"deep\":{nested}}}"), 1)
                } else {
                    nested
                };
            }
            // Huge strings and numbers.
            7 => {
                let n = rng.random_range(0..4_000);
                return frame.replacen(":", &format!(":{}", "9".repeat(n)), 1);
            }
            // An id the hub never issues in place of a real one.
            8 => {
                if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&bytes) {
                    let ids = ["conversation", "before", "ref", "id", "agent"];
                    if let Some(key) = ids.iter().find(|k| object.contains_key(**k)) {
                        let bad = MALFORMED_IDS[rng.random_range(0..MALFORMED_IDS.len())];
                        object.insert((*key).to_owned(), bad.into());
                        return serde_json::Value::Object(object).to_string();
                    }
                }
            }
            // Duplicate keys and unknown fields.
            _ => {
                return frame.replacen("{", "{\"type\":\"say\",\"id\":7,", 1);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn frame_parser_fuzz() {
        use rand::{Rng, SeedableRng};
        const FRAMES: usize = 100_000;
        for frame in VALID_FRAMES {
            assert!(ClientFrame::parse(frame).is_ok(), "{frame}");
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5b0a_4d00);
        let (mut panics, mut accepted) = (0usize, 0usize);
        for n in 0..FRAMES {
            let frame = match n % 10 {
                // Random bytes now and then; mutations of valid frames mostly,
                // sometimes mutated again.
                0 => {
                    let len = rng.random_range(0..64);
                    let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                _ => {
                    let seed = VALID_FRAMES[rng.random_range(0..VALID_FRAMES.len())];
                    let once = mutate(&mut rng, seed);
                    if rng.random_bool(0.3) {
                        mutate(&mut rng, &once)
                    } else {
                        once
                    }
                }
            };
            match std::panic::catch_unwind(|| ClientFrame::parse(&frame)) {
                Ok(Ok(_)) => accepted += 1,
                Ok(Err(e)) => assert!(!e.message.is_empty()),
                Err(_) => panics += 1,
            }
        }
        println!("frame parser fuzz: {FRAMES} frames, {panics} panics ({accepted} accepted)");
        assert_eq!(panics, 0);
    }

    #[test]
    fn every_known_type_has_a_valid_sample() {
        for kind in KNOWN_CLIENT_TYPES {
            let sample = format!("\"type\":\"{kind}\"");
            assert!(
                VALID_FRAMES.iter().any(|f| f.contains(&sample)),
                "no valid `{kind}` frame in VALID_FRAMES"
            );
        }
    }

    /// Every id field of every frame is parsed as the frame is read: a
    /// malformed one is `bad_field`, naming the field, with `ref` only
    /// when the frame's own `id` is valid.
    #[test]
    fn malformed_ids_are_bad_field_naming_the_field() {
        let mut checked = std::collections::BTreeSet::new();
        for frame in VALID_FRAMES {
            let serde_json::Value::Object(object) = serde_json::from_str(frame).expect("json")
            else {
                unreachable!("{frame}")
            };
            for field in ["conversation", "before", "ref", "id", "agent"] {
                if !object.contains_key(field) {
                    continue;
                }
                for bad in MALFORMED_IDS {
                    let mut o = object.clone();
                    o.insert(field.to_owned(), (*bad).into());
                    let text = serde_json::Value::Object(o).to_string();
                    let valid = match field {
                        "id" => ClientKey::parse(bad).is_ok(),
                        "ref" => CallbackRef::parse(bad).is_ok(),
                        // Any `sub` of 1–128 bytes without control characters.
                        "agent" => !bad.is_empty() && !bad.chars().any(char::is_control),
                        _ => ConversationId::parse(bad).is_ok(),
                    };
                    if valid {
                        assert!(ClientFrame::parse(&text).is_ok(), "{text}");
                        continue;
                    }
                    let e = ClientFrame::parse(&text).expect_err(&text);
                    assert_eq!(e.code, ErrorCode::BadField, "{text}");
                    assert!(
                        e.message.contains(&format!("`{field}`")),
                        "{text}: {}",
                        e.message
                    );
                    let id = object.get("id").and_then(|v| v.as_str());
                    let expected = if field == "id" { None } else { id };
                    assert_eq!(e.reference.as_deref(), expected, "{text}");
                    checked.insert(format!("{}.{field}", object["type"]));
                }
            }
        }
        // Every frame type that carries an id was tried.
        for kind in [
            "say",
            "typing",
            "read",
            "sync",
            "end",
            "transfer",
            "note",
            "rate",
            "escalate",
            "history",
            "transcript",
            "claim_message",
            "resolve",
            "monitor",
            "unmonitor",
            "reassign",
        ] {
            assert!(
                checked.contains(&format!("\"{kind}\".conversation")),
                "{kind}"
            );
        }
        for field in [
            "\"history\".before",
            "\"claim_callback\".ref",
            "\"complete_callback\".ref",
            "\"say\".id",
            "\"start\".id",
            "\"set_agent_state\".agent",
        ] {
            assert!(checked.contains(field), "{field}");
        }
        // As docs/protocol.md §3 quotes it: the field and the shape, not the value.
        let e = ClientFrame::parse(r#"{"type":"monitor","conversation":"c-1:monitors"}"#)
            .expect_err("malformed");
        assert_eq!(
            e.message,
            "bad `monitor` frame: `conversation` is not a conversation id the hub issued \
             (`c-` and 32 lowercase hexadecimal digits)"
        );
        // `null` stays "absent" for optional ids.
        let f = ClientFrame::parse(r#"{"type":"sync","conversation":null,"after":0}"#);
        assert_eq!(
            f.expect("valid"),
            ClientFrame::Sync {
                conversation: None,
                after: 0
            }
        );
    }

    #[test]
    fn ignores_unknown_fields() {
        let f = ClientFrame::parse(r#"{"type":"typing","on":true,"extra":1}"#).expect("valid");
        assert_eq!(
            f,
            ClientFrame::Typing {
                conversation: None,
                on: true
            }
        );
    }

    #[test]
    fn msg_flattens_entry() {
        let f = ServerFrame::Msg {
            conversation: ConversationId::from(SAMPLE_CONVERSATION),
            entry: Entry {
                seq: 3,
                from: Author::Agent,
                text: "hi".into(),
                at: "1970-01-01T00:00:00Z".into(),
                id: Some("k".into()),
            },
        };
        let v: serde_json::Value = serde_json::from_str(&f.to_text()).expect("json");
        assert_eq!(v["type"], "msg");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["from"], "agent");
        assert_eq!(v["id"], "k");
    }
}
