//! Domain events: what happened, and to whom it must be told.
//!
//! The store announces the events that must stay in step with its state
//! (`msg`, `assigned`, `ended`, `escalated`, `monitor_ended`) from inside the atomic step that
//! makes the change; the hub announces the rest (typing, read receipts,
//! queue places, callback changes). Either way an event travels as an
//! [`Envelope`]: the [`Audience`]s it is for, its publish time, and a typed
//! [`Event`] — never a serialised frame. The node that delivers it renders
//! it into [`ServerFrame`]s with [`Event::frame_for`], once per view (the
//! cardholder's and the staff's), not once per recipient.
//!
//! [`Event`]'s serde form is the one pub/sub format: what the hub
//! publishes and every node reads, defined here and nowhere else. This
//! module knows nothing about Redis or sockets: the Redis engine frames
//! envelopes for pub/sub (its `wire`: the recipients, the time and what
//! only a script knows, in a header before the event), `bus`
//! delivers them, `protocol` serialises the frames.

use serde::{Deserialize, Serialize};

use crate::archive::{Summary, Transfer};
use crate::domain::{
    rfc3339, AgentState, Author, CardholderPresence, ConversationId, ConversationKind, Desk,
    EndReason, Millis, Role, Seq, Tier, UserId,
};
use crate::protocol::{
    AgentInfo, Availability, CallLine, CallbackView, CardholderInfo, CauseView, ConversationState,
    Entry, HistoryItem, InboxChange, InboxItem, NoteLine, ServerFrame, TransferLine,
};
use crate::store::{Attempt, CallbackRequest, Cause, Conversation, Note};

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

    /// The frame this event becomes for a view; `None` when that view is
    /// not told of it.
    pub fn frame_for(&self, view: View) -> Option<ServerFrame> {
        Some(match (self, view) {
            (
                Event::Msg {
                    conversation,
                    entry,
                },
                _,
            ) => ServerFrame::Msg {
                conversation: conversation.clone(),
                entry: entry.clone(),
            },
            (
                Event::Assigned {
                    conversation,
                    waited_ms,
                    transcript,
                },
                View::Staff,
            ) => ServerFrame::Assigned {
                conversation: conversation.id.clone(),
                agent: None,
                cardholder: Some(cardholder_info(conversation)),
                topic: Some(conversation.topic),
                waited_s: Some(u64::try_from(waited_ms.max(&0) / 1000).unwrap_or(0)),
                transcript: Some(transcript.clone()),
                history: Some(conversation.history.iter().map(history_item).collect()),
                kind: thread_kind(conversation),
                transfers: Some(conversation.transfers.iter().map(transfer_line).collect()),
                notes: Some(conversation.notes.iter().map(note_line).collect()),
            },
            (Event::Assigned { conversation, .. }, View::Cardholder) => {
                assigned_to_cardholder(conversation)
            }
            (
                Event::Ended {
                    conversation,
                    reason,
                },
                _,
            ) => ServerFrame::Ended {
                conversation: conversation.clone(),
                reason: *reason,
            },
            (
                Event::MonitorEnded {
                    conversation,
                    reason,
                },
                _,
            ) => ServerFrame::MonitorEnded {
                conversation: conversation.clone(),
                reason: *reason,
            },
            (
                Event::Escalated {
                    conversation,
                    request,
                },
                View::Cardholder,
            ) => ServerFrame::Escalated {
                conversation: conversation.clone(),
                callback: callback_view(request, View::Cardholder),
            },
            (Event::Escalated { .. }, View::Staff) => return None,
            (Event::Callback { request }, view) => ServerFrame::Callback {
                request: callback_view(request, view),
            },
            (
                Event::Typing {
                    conversation,
                    from,
                    on,
                },
                _,
            ) => ServerFrame::Typing {
                conversation: conversation.clone(),
                from: *from,
                on: *on,
            },
            (
                Event::Read {
                    conversation,
                    from,
                    seq,
                },
                _,
            ) => ServerFrame::Read {
                conversation: conversation.clone(),
                from: *from,
                seq: *seq,
            },
            (
                Event::Redact {
                    conversation,
                    seq,
                    text,
                },
                _,
            ) => ServerFrame::Redact {
                conversation: conversation.clone(),
                seq: *seq,
                text: text.clone(),
            },
            (
                Event::Queued {
                    conversation,
                    tier,
                    position,
                    eta_s,
                    availability,
                },
                _,
            ) => ServerFrame::Queued {
                conversation: conversation.clone(),
                tier: *tier,
                position: *position,
                eta_s: *eta_s,
                availability: availability.clone(),
            },
            (
                Event::Presence {
                    conversation,
                    cardholder,
                },
                _,
            ) => ServerFrame::Presence {
                conversation: conversation.clone(),
                cardholder: *cardholder,
            },
            (
                Event::InboxItem {
                    team,
                    conversation,
                    change,
                    item,
                },
                View::Staff,
            ) => ServerFrame::InboxItem {
                team: *team,
                conversation: conversation.clone(),
                change: *change,
                item: item.as_deref().cloned(),
            },
            (Event::InboxItem { .. }, View::Cardholder) => return None,
            // Internal notes never reach a cardholder.
            (Event::Note { .. }, View::Cardholder) => return None,
            (Event::Note { conversation, note }, View::Staff) => ServerFrame::Note {
                conversation: conversation.clone(),
                note: note_line(note),
            },
            (Event::AgentStatus { state, by }, _) => ServerFrame::Status {
                state: *state,
                by: by.clone(),
            },
        })
    }
}

/// The cardholder as staff see them.
pub fn cardholder_info(c: &Conversation) -> CardholderInfo {
    CardholderInfo {
        sub: c.cardholder.clone(),
        name: c.cardholder_name.clone(),
        tier: c.card_tier,
    }
}

/// The cardholder's `assigned` frame: who serves the chat.
pub fn assigned_to_cardholder(c: &Conversation) -> ServerFrame {
    ServerFrame::Assigned {
        conversation: c.id.clone(),
        agent: c.agent_name.clone().map(|name| AgentInfo { name }),
        cardholder: None,
        topic: None,
        waited_s: None,
        transcript: None,
        history: None,
        kind: thread_kind(c),
        transfers: None,
        notes: None,
    }
}

/// A hand-over as staff see it.
pub fn transfer_line(t: &Transfer) -> TransferLine {
    TransferLine {
        at: rfc3339(t.at),
        from_tier: t.from_tier,
        to_tier: t.tier,
        by: t.by_name.clone(),
        note: t.note.clone(),
    }
}

/// An internal note as staff see it.
pub fn note_line(n: &Note) -> NoteLine {
    NoteLine {
        at: rfc3339(n.at),
        by: n.by_name.clone(),
        text: n.text.clone(),
    }
}

/// A past conversation as `history` and `assigned` show it.
pub fn history_item(s: &Summary) -> HistoryItem {
    HistoryItem {
        id: s.id.clone(),
        kind: "chat".to_owned(),
        tier: s.tier,
        topic: s.topic,
        started_at: rfc3339(s.started_at),
        ended_at: rfc3339(s.ended_at),
        end_reason: s.end_reason,
        agent_name: s.agent_name.clone(),
    }
}

/// A conversation's state as `welcome` reports it to one view.
pub fn conversation_state(c: &Conversation, view: View) -> ConversationState {
    ConversationState {
        id: c.id.clone(),
        status: c.status,
        tier: c.tier,
        last_seq: c.last_seq,
        topic: Some(c.topic),
        cardholder: (view == View::Staff).then(|| cardholder_info(c)),
        agent: match view {
            View::Cardholder => c.agent_name.clone().map(|name| AgentInfo { name }),
            View::Staff => None,
        },
        kind: thread_kind(c),
        transfers: staff_only(view, &c.transfers, transfer_line),
        notes: staff_only(view, &c.notes, note_line),
    }
}

/// What only staff see of a conversation: nothing for the cardholder.
fn staff_only<T, L>(view: View, items: &[T], line: fn(&T) -> L) -> Vec<L> {
    match view {
        View::Cardholder => Vec::new(),
        View::Staff => items.iter().map(line).collect(),
    }
}

/// `Some(message)` for a secure-message thread; chats leave `kind` out.
fn thread_kind(c: &Conversation) -> Option<ConversationKind> {
    (c.kind == ConversationKind::Message).then_some(ConversationKind::Message)
}

/// A callback request as a view sees it: the reason, the name, the calls
/// and the escalating agent's note only to staff; the phone's last four
/// digits to both (the desk dials them, masked on screen).
pub fn callback_view(r: &CallbackRequest, view: View) -> CallbackView {
    let staff = view == View::Staff;
    CallbackView {
        reference: r.reference.clone(),
        desk: r.desk,
        sub: r.sub.clone(),
        tier: r.tier,
        status: r.status.as_str().to_owned(),
        attempts: r.attempts,
        claimed_by: r.claimed_by.clone(),
        created_at: rfc3339(r.created_at),
        reason: staff.then(|| r.reason.clone()),
        conversation: Some(r.conversation.clone()),
        phone_last4: r.phone_last4.clone(),
        history: r
            .history
            .iter()
            .map(|a| a.outcome.as_str().to_owned())
            .collect(),
        name: r.name.clone().filter(|_| staff),
        cause: r.cause.as_ref().map(|c| cause_view(c, r.desk, view)),
        calls: if staff {
            r.history.iter().map(call_line).collect()
        } else {
            Vec::new()
        },
    }
}

/// Why a request was raised, as a view sees it (no staff note for the cardholder).
fn cause_view(c: &Cause, desk: Desk, view: View) -> CauseView {
    let staff = view == View::Staff;
    let (kind, topic, rule, note) = match c {
        Cause::Topic { topic } => ("topic", Some(*topic), None, None),
        Cause::FirstMessage { rule } => ("first_message", None, Some(rule.clone()), None),
        Cause::Agent { topic, note } => ("agent", Some(*topic), None, note.clone()),
        Cause::Asked { topic } => ("asked", Some(*topic), None, None),
    };
    CauseView {
        kind: kind.to_owned(),
        concern: c.concern(desk),
        topic: topic.filter(|_| staff),
        rule: rule.filter(|_| staff),
        note: note.filter(|_| staff),
    }
}

/// One call as staff see it.
fn call_line(a: &Attempt) -> CallLine {
    CallLine {
        at: rfc3339(a.at),
        outcome: a.outcome,
        by: a.by.clone(),
        note: a.note.clone(),
    }
}

/// A stream of envelopes received from other nodes (and this one).
pub type EventStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Envelope> + Send>>;

/// How events reach other nodes: published for every node, received on this
/// node's subscription. The Redis engine is one; `bus` needs nothing else.
#[async_trait::async_trait]
pub trait EventFeed: Send + Sync + std::fmt::Debug + 'static {
    /// Publishes events the hub announces (in one round trip).
    async fn publish(&self, batch: &[Envelope]) -> Result<(), crate::store::StoreError>;

    /// Subscribes to this node's events; the stream ends when the
    /// subscription is lost.
    async fn subscribe(&self) -> Result<EventStream, crate::store::StoreError>;
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
