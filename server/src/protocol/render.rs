//! Rendering records and events into [`ServerFrame`]s: what each view (the
//! cardholder's, the staff's) is shown of a conversation, a callback request,
//! a hand-over or a note. The records (`domain`) and the events (`events`)
//! know nothing of frames; this is the one place that turns them into frames.

use crate::domain::callback::{Attempt, CallbackRequest, Cause};
use crate::domain::conversation::{Conversation, Note, Summary, Transfer};
use crate::domain::inbox::CardholderInfo;
use crate::domain::{rfc3339, ConversationKind, Desk};
use crate::events::{Event, View};

use super::{
    AgentInfo, CallLine, CallbackView, CauseView, ConversationState, HistoryItem, NoteLine,
    ServerFrame, TransferLine,
};

impl Event {
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
        kind: s.kind.to_string(),
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
