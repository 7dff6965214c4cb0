//! Domain events: what happened, and to whom it must be told.
//!
//! The store announces the events that must stay in step with its state
//! (`msg`, `assigned`, `ended`, `escalated`, `monitor_ended`) from inside the atomic step that
//! makes the change; the hub announces the rest (typing, read receipts,
//! queue places, callback changes). Either way an event travels as an
//! [`Envelope`]: the [`Audience`]s it is for, its publish time, and a typed
//! [`Event`] — never a serialised frame. The node that delivers it renders
//! it into `ServerFrame`s with `Event::frame_for` (in `protocol::render`), once per view (the
//! cardholder's and the staff's), not once per recipient.
//!
//! [`Event`]'s serde form is the one pub/sub format: what the hub
//! publishes and every node reads, defined here and nowhere else. This
//! module knows nothing about Redis, sockets or frames: the Redis engine
//! frames envelopes for pub/sub (its `wire`: the recipients, the time and
//! what only a script knows, in a header before the event), `bus` delivers
//! them, `protocol::render` renders them and `protocol` serialises the
//! frames.

use serde::{Deserialize, Serialize};

use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::{Conversation, Entry, Note};
use crate::domain::inbox::{InboxChange, InboxItem};
use crate::domain::queue::Availability;
use crate::domain::{
    AgentState, Author, CardholderPresence, ConversationId, Desk, EndReason, Millis, Role, Seq,
    Tier, UserId,
};

/// Who an event is for: a user is the pair (role, `sub`), and a desk is an
/// audience of its own that no user id can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// Every connection of this cardholder.
    Cardholder(UserId),
    /// Every connection of this agent.
    Agent(UserId),
    /// Every connection of this supervisor.
    Supervisor(UserId),
    /// Every connected agent of this callback desk.
    Desk(Desk),
    /// Every connected agent of this tier's team: its secure-message inbox.
    Inbox(Tier),
}

impl Audience {
    /// The audience of a user.
    pub fn user(role: Role, sub: UserId) -> Audience {
        match role {
            Role::Cardholder => Audience::Cardholder(sub),
            Role::Agent => Audience::Agent(sub),
            Role::Supervisor => Audience::Supervisor(sub),
        }
    }

    /// Which rendering of an event this audience gets.
    pub fn view(&self) -> View {
        match self {
            Audience::Cardholder(_) => View::Cardholder,
            Audience::Agent(_)
            | Audience::Supervisor(_)
            | Audience::Desk(_)
            | Audience::Inbox(_) => View::Staff,
        }
    }
}

/// The two ways an event is shown: to the cardholder, or to the bank's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// The cardholder's own view (their phone digits, the agent's name).
    Cardholder,
    /// Agents, desks and supervisors (the cardholder's profile, the transcript).
    Staff,
}

/// Something that happened that connections must hear about.
///
/// Its serde form (internally tagged by `k`, snake_case) is the pub/sub
/// format every node reads: the hub publishes it as it is, and the Redis
/// scripts publish payloads of it that Rust built, with what only the
/// step knows (the seq it gave, the records it read) in a header of their
/// own (the Redis engine's `wire` reads both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Event {
    /// A transcript entry was stored.
    Msg {
        /// Its conversation.
        conversation: ConversationId,
        /// The entry, with its seq.
        entry: Entry,
    },
    /// A conversation was paired with an agent.
    Assigned {
        /// The conversation, now active.
        conversation: Box<Conversation>,
        /// How long it waited in the queue.
        waited_ms: Millis,
        /// The transcript up to the assignment (later entries come as `Msg`).
        #[serde(default)]
        transcript: Vec<Entry>,
    },
    /// A conversation ended, or left an agent (transfer, agent lost).
    Ended {
        /// The conversation.
        conversation: ConversationId,
        /// Why.
        reason: EndReason,
    },
    /// A supervisor stopped monitoring a chat: announced by the store
    /// step that ended the monitor (the chat left the supervisor's teams,
    /// or ended), before anything later of the chat.
    MonitorEnded {
        /// The conversation.
        conversation: ConversationId,
        /// Why.
        reason: crate::domain::MonitorEndReason,
    },
    /// A chat became a callback request.
    Escalated {
        /// The conversation.
        conversation: ConversationId,
        /// The request.
        request: Box<CallbackRequest>,
    },
    /// A callback request appeared or changed.
    Callback {
        /// The request.
        request: Box<CallbackRequest>,
    },
    /// Someone started or stopped typing.
    Typing {
        /// The conversation.
        conversation: ConversationId,
        /// Who.
        from: Author,
        /// Typing or stopped.
        on: bool,
    },
    /// Someone read up to an entry.
    Read {
        /// The conversation.
        conversation: ConversationId,
        /// Who.
        from: Author,
        /// Up to which entry.
        seq: Seq,
    },
    /// An earlier entry's text was masked anew (a card number typed over
    /// two messages).
    Redact {
        /// The conversation.
        conversation: ConversationId,
        /// The entry.
        seq: Seq,
        /// Its new text.
        text: String,
    },
    /// Whether a chat's cardholder is connected, for its agent.
    Presence {
        /// The conversation.
        conversation: ConversationId,
        /// Online, away or gone.
        cardholder: CardholderPresence,
    },
    /// An agent wrote an internal note on a chat (staff only).
    Note {
        /// The conversation.
        conversation: ConversationId,
        /// The note.
        note: Note,
    },
    /// A supervisor set an agent's availability.
    AgentStatus {
        /// The new state.
        state: AgentState,
        /// The supervisor's name.
        by: String,
    },
    /// A secure-message thread entered or left a team's inbox.
    InboxItem {
        /// The team.
        team: Tier,
        /// The thread.
        conversation: ConversationId,
        /// Added or removed.
        change: InboxChange,
        /// The thread as the inbox lists it (when added).
        #[serde(default)]
        item: Option<Box<InboxItem>>,
    },
    /// A waiting conversation's place in its queue.
    Queued {
        /// The conversation.
        conversation: ConversationId,
        /// Its queue.
        tier: Tier,
        /// 1 = next.
        position: u64,
        /// Estimated seconds to wait.
        eta_s: Option<u64>,
        /// Agents online, opening hours, the secure-message offer.
        #[serde(default)]
        availability: Availability,
    },
}

/// An event on its way: for whom, when it was published, what.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The recipients.
    pub to: Vec<Audience>,
    /// When it was published (Unix ms), to measure delivery lag.
    pub at: Millis,
    /// What happened.
    pub event: Event,
}

impl Envelope {
    /// An envelope published now.
    pub fn now(to: Vec<Audience>, event: Event) -> Envelope {
        Envelope {
            to,
            at: crate::domain::now_millis(),
            event,
        }
    }
}

impl Event {
    /// Whether every view gets the same frame (most events), so a node
    /// renders it once for all its recipients.
    pub fn same_for_every_view(&self) -> bool {
        !matches!(
            self,
            Event::Assigned { .. }
                | Event::Escalated { .. }
                | Event::Callback { .. }
                | Event::Note { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EndReason;

    #[test]
    fn events_shared_by_every_view_render_alike() {
        let id = ConversationId::from("c-1");
        let events = [
            Event::Msg {
                conversation: id.clone(),
                entry: Entry {
                    seq: 1,
                    from: Author::Agent,
                    text: "hi".into(),
                    at: "2027-01-01T00:00:00Z".into(),
                    id: None,
                },
            },
            Event::Ended {
                conversation: id.clone(),
                reason: EndReason::AgentEnded,
            },
            Event::Typing {
                conversation: id.clone(),
                from: Author::Cardholder,
                on: true,
            },
            Event::Read {
                conversation: id.clone(),
                from: Author::Cardholder,
                seq: 1,
            },
            Event::Redact {
                conversation: id.clone(),
                seq: 1,
                text: "****".into(),
            },
            Event::Queued {
                conversation: id,
                tier: Tier::Premium,
                position: 1,
                eta_s: None,
                availability: Availability::default(),
            },
            Event::AgentStatus {
                state: AgentState::Away,
                by: "Sam Supervisor".into(),
            },
            Event::MonitorEnded {
                conversation: "c-1".into(),
                reason: crate::domain::MonitorEndReason::OutOfScope,
            },
            Event::Presence {
                conversation: "c-1".into(),
                cardholder: CardholderPresence::Away,
            },
        ];
        for e in events {
            assert!(e.same_for_every_view(), "{e:?}");
            assert_eq!(e.frame_for(View::Cardholder), e.frame_for(View::Staff));
        }
    }
}
