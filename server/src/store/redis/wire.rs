//! The envelope events travel in between nodes, over Redis pub/sub.
//!
//! `{"to": [member…], "at": ms, "e": {"k": kind, …}}`: the recipients as
//! presence members ([`super::keys::member`]), the publish time, and the
//! domain event. The scripts publish the events that must stay in step with
//! their state change (`msg`, `assigned`, `ended`, `escalated`) and pass
//! stored records through untouched (a `HGETALL` list, a stored entry's
//! JSON); the hub publishes the rest. This is the one definition of the
//! envelope: [`decode`] reads both, [`encode`] writes the hub's.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::keys;
use super::replies::{self, lua_list, Fields, StoredEntry};
use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::Note;
use crate::domain::inbox::{InboxChange, InboxItem};
use crate::domain::queue::Availability;
use crate::domain::{
    AgentState, Author, CardholderPresence, ConversationId, EndReason, Millis, MonitorEndReason,
    Seq, Tier,
};
use crate::events::{Envelope, Event};

/// An envelope as published (read as [`Received`]).
#[derive(Serialize)]
struct Published {
    /// Presence members of the recipients.
    to: Vec<String>,
    /// Publish time, Unix ms.
    at: Millis,
    /// The event.
    e: WireEvent,
}

/// A domain event as published.
#[derive(Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum WireEvent {
    /// From `append.lua` / `escalate.lua` (only scripts publish it).
    #[serde(skip_serializing)]
    Msg(MsgFields),
    /// From `route.lua` (only scripts publish records: never serialised).
    #[serde(skip_serializing)]
    Assigned {
        conversation: Fields,
        waited_ms: Millis,
        /// Stored entries, from seq 1.
        transcript: Vec<StoredEntry>,
    },
    /// From `end_conv`, `transfer.lua`, `expire_graces.lua`.
    Ended {
        conversation: ConversationId,
        reason: EndReason,
    },
    /// From `transfer.lua`, `escalate.lua` and `end_conv` (the prelude's
    /// `monitors_follow`, `end_conv`): only scripts publish it, in the step
    /// that ends the monitor.
    #[serde(skip_serializing)]
    MonitorEnded {
        conversation: ConversationId,
        reason: MonitorEndReason,
    },
    /// From `escalate.lua` (only scripts publish records: never serialised).
    #[serde(skip_serializing)]
    Escalated {
        conversation: ConversationId,
        request: Fields,
    },
    /// From `append.lua`: an earlier entry masked anew.
    Redact {
        conversation: ConversationId,
        seq: Seq,
        text: String,
    },
    /// From the hub.
    Callback { request: Box<CallbackRequest> },
    /// From the hub.
    Typing {
        conversation: ConversationId,
        from: Author,
        on: bool,
    },
    /// From the hub.
    Read {
        conversation: ConversationId,
        from: Author,
        seq: Seq,
    },
    /// From the hub.
    Queued {
        conversation: ConversationId,
        tier: Tier,
        position: u64,
        eta_s: Option<u64>,
        #[serde(default)]
        availability: Availability,
    },
    /// From `note.lua`: an internal note (built by Rust, passed through).
    Note {
        conversation: ConversationId,
        note: Note,
    },
    /// From the hub.
    AgentStatus { state: AgentState, by: String },
    /// From the hub.
    InboxItem {
        team: Tier,
        conversation: ConversationId,
        change: InboxChange,
        #[serde(default)]
        item: Option<Box<InboxItem>>,
    },
    /// From `presence.lua`, `expire_graces.lua`, `route.lua`.
    Presence {
        conversation: ConversationId,
        cardholder: CardholderPresence,
    },
}

/// A published envelope as read: the event is kept as JSON text until its
/// kind is known (see [`Received::event`]).
#[derive(Deserialize)]
struct Received<'a> {
    #[serde(deserialize_with = "lua_list")]
    to: Vec<String>,
    at: Millis,
    #[serde(borrow)]
    e: &'a RawValue,
}

/// An event's kind alone.
#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow)]
    k: Cow<'a, str>,
}

/// The `msg` event's fields (read as a plain struct: [`Received::event`]).
#[derive(Deserialize)]
struct MsgFields {
    conversation: ConversationId,
    seq: Seq,
    /// The stored entry, passed through by the script.
    entry: StoredEntry,
}

impl Received<'_> {
    /// The event. Most events are messages: a `msg` is read straight into
    /// its fields, not through the tagged enum, which serde reads by
    /// buffering the whole event first (every key and string copied once
    /// more) to find its tag.
    fn event(&self) -> serde_json::Result<WireEvent> {
        let text = self.e.get();
        if serde_json::from_str::<Kind<'_>>(text)?.k == "msg" {
            return serde_json::from_str(text).map(WireEvent::Msg);
        }
        serde_json::from_str(text)
    }

    /// The domain envelope; `None` (and a log line) for one this node
    /// cannot read, which then reaches nobody rather than the wrong people.
    fn envelope(self) -> Option<Envelope> {
        match self.event() {
            Ok(e) => envelope(Published {
                to: self.to,
                at: self.at,
                e,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "dropped an unreadable hub event");
                None
            }
        }
    }
}

/// Reads a published envelope; `None` (and a log line) for one this node
/// cannot read, which then reaches nobody rather than the wrong people.
pub fn decode(payload: &[u8]) -> Option<Envelope> {
    match serde_json::from_slice::<Received<'_>>(payload) {
        Ok(r) => r.envelope(),
        Err(e) => {
            tracing::warn!(error = %e, "dropped an unreadable hub event");
            None
        }
    }
}

/// Reads one pub/sub message: an envelope, or a JSON array of envelopes
/// (what one step announced on one node's channel, in order: see the
/// prelude's `flush`). Unreadable envelopes are dropped as by [`decode`];
/// an unreadable array is dropped whole.
pub fn decode_message(payload: &[u8]) -> Vec<Envelope> {
    if payload.first() != Some(&b'[') {
        return decode(payload).into_iter().collect();
    }
    match serde_json::from_slice::<Vec<Received<'_>>>(payload) {
        Ok(all) => all.into_iter().filter_map(Received::envelope).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "dropped unreadable hub events");
            Vec::new()
        }
    }
}

/// The domain envelope of a published one; `None` for a record this node
/// cannot read.
fn envelope(published: Published) -> Option<Envelope> {
    let event = match published.e {
        WireEvent::Msg(MsgFields {
            conversation,
            seq,
            entry,
        }) => Event::Msg {
            conversation,
            entry: entry.with_seq(seq),
        },
        WireEvent::Assigned {
            conversation,
            waited_ms,
            transcript,
        } => Event::Assigned {
            conversation: Box::new(replies::conversation(&conversation).ok()?),
            waited_ms,
            transcript: transcript
                .into_iter()
                .zip(1..)
                .map(|(e, seq)| e.with_seq(seq))
                .collect(),
        },
        WireEvent::Ended {
            conversation,
            reason,
        } => Event::Ended {
            conversation,
            reason,
        },
        WireEvent::MonitorEnded {
            conversation,
            reason,
        } => Event::MonitorEnded {
            conversation,
            reason,
        },
        WireEvent::Escalated {
            conversation,
            request,
        } => Event::Escalated {
            conversation,
            request: Box::new(replies::callback(&request).ok()?),
        },
        WireEvent::Redact {
            conversation,
            seq,
            text,
        } => Event::Redact {
            conversation,
            seq,
            text,
        },
        WireEvent::Callback { request } => Event::Callback { request },
        WireEvent::Typing {
            conversation,
            from,
            on,
        } => Event::Typing {
            conversation,
            from,
            on,
        },
        WireEvent::Read {
            conversation,
            from,
            seq,
        } => Event::Read {
            conversation,
            from,
            seq,
        },
        WireEvent::Queued {
            conversation,
            tier,
            position,
            eta_s,
            availability,
        } => Event::Queued {
            conversation,
            tier,
            position,
            eta_s,
            availability,
        },
        WireEvent::AgentStatus { state, by } => Event::AgentStatus { state, by },
        WireEvent::InboxItem {
            team,
            conversation,
            change,
            item,
        } => Event::InboxItem {
            team,
            conversation,
            change,
            item,
        },
        WireEvent::Note { conversation, note } => Event::Note { conversation, note },
        WireEvent::Presence {
            conversation,
            cardholder,
        } => Event::Presence {
            conversation,
            cardholder,
        },
    };
    Some(Envelope {
        to: published
            .to
            .iter()
            .filter_map(|m| keys::audience(m))
            .collect(),
        at: published.at,
        event,
    })
}

/// Writes an envelope the hub publishes; `None` for the events only the
/// store announces (they need the state change they describe).
pub fn encode(envelope: &Envelope) -> Option<String> {
    let e = match &envelope.event {
        Event::Callback { request } => WireEvent::Callback {
            request: request.clone(),
        },
        Event::Typing {
            conversation,
            from,
            on,
        } => WireEvent::Typing {
            conversation: conversation.clone(),
            from: *from,
            on: *on,
        },
        Event::Read {
            conversation,
            from,
            seq,
        } => WireEvent::Read {
            conversation: conversation.clone(),
            from: *from,
            seq: *seq,
        },
        Event::Queued {
            conversation,
            tier,
            position,
            eta_s,
            availability,
        } => WireEvent::Queued {
            conversation: conversation.clone(),
            tier: *tier,
            position: *position,
            eta_s: *eta_s,
            availability: availability.clone(),
        },
        Event::AgentStatus { state, by } => WireEvent::AgentStatus {
            state: *state,
            by: by.clone(),
        },
        Event::InboxItem {
            team,
            conversation,
            change,
            item,
        } => WireEvent::InboxItem {
            team: *team,
            conversation: conversation.clone(),
            change: *change,
            item: item.clone(),
        },
        Event::Msg { .. }
        | Event::Presence { .. }
        | Event::Assigned { .. }
        | Event::Ended { .. }
        | Event::Redact { .. }
        | Event::Note { .. }
        | Event::MonitorEnded { .. }
        | Event::Escalated { .. } => return None,
    };
    serde_json::to_string(&Published {
        to: envelope.to.iter().map(keys::member).collect(),
        at: envelope.at,
        e,
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Audience;

    #[test]
    fn hub_events_round_trip() {
        let env = Envelope {
            to: vec![
                Audience::Cardholder("x:y".into()),
                Audience::Agent("x:y".into()),
            ],
            at: 1_800_000_000_000,
            event: Event::Typing {
                conversation: ConversationId::from("c-1"),
                from: Author::Agent,
                on: true,
            },
        };
        let text = encode(&env).expect("encodes");
        assert_eq!(decode(text.as_bytes()), Some(env));
    }

    #[test]
    fn reads_what_scripts_publish() {
        // As `append.lua` encodes it (cjson writes no spaces).
        let lua = r#"{"to":["c:ann","a:bob%3Ax"],"at":1800000000000,"e":{"k":"msg","conversation":"c-1","seq":7,"entry":{"from":"cardholder","text":"hi","at":"2027-01-15T08:00:00Z","id":"k1"}}}"#;
        let env = decode(lua.as_bytes()).expect("decodes");
        assert_eq!(
            env.to,
            vec![
                Audience::Cardholder("ann".into()),
                Audience::Agent("bob:x".into())
            ]
        );
        let Event::Msg { entry, .. } = env.event else {
            panic!("a msg event")
        };
        assert_eq!((entry.seq, entry.text.as_str()), (7, "hi"));
        // An empty transcript is `{}` in Lua's JSON.
        let assigned = r#"{"to":{},"at":1,"e":{"k":"assigned","conversation":["id","c-1","cardholder","ann","card_tier","premium","tier","premium","topic","billing","status","active","agent","bob","agent_name","Bob","created_at","1","queued_at","1","last_seq","0"],"waited_ms":5,"transcript":[]}}"#;
        assert!(matches!(
            decode(assigned.as_bytes()).map(|e| e.event),
            Some(Event::Assigned { .. })
        ));
    }

    #[test]
    fn reads_what_one_step_announced_on_a_channel_in_order() {
        let one = |seq: u32| {
            format!(
                r#"{{"to":["c:ann"],"at":1,"e":{{"k":"msg","conversation":"c-1","seq":{seq},"entry":{{"from":"agent","text":"m{seq}","at":"2027-01-15T08:00:00Z"}}}}}}"#
            )
        };
        let batch = format!("[{},{},{}]", one(3), one(4), one(5));
        let seqs: Vec<_> = decode_message(batch.as_bytes())
            .into_iter()
            .map(|e| match e.event {
                Event::Msg { entry, .. } => entry.seq,
                _ => 0,
            })
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(decode_message(one(9).as_bytes()).len(), 1);
        assert!(decode_message(b"[{\"to\":").is_empty());
    }

    /// A `msg` is read whatever the order of its keys; an event this node
    /// cannot read (unknown kind, a `msg` without its entry) is dropped
    /// alone, and the rest of its message still arrives.
    #[test]
    fn reads_a_msg_in_any_key_order_and_drops_only_unreadable_events() {
        let entry = r#"{"from":"agent","text":"hi","at":"2027-01-15T08:00:00Z"}"#;
        let reordered = format!(
            r#"{{"to":["c:ann"],"at":1,"e":{{"seq":2,"entry":{entry},"k":"msg","conversation":"c-1"}}}}"#
        );
        let unknown = r#"{"to":["c:ann"],"at":1,"e":{"k":"teleport","conversation":"c-1"}}"#;
        let no_entry = r#"{"to":["c:ann"],"at":1,"e":{"k":"msg","conversation":"c-1","seq":3}}"#;
        let ended = r#"{"to":["c:ann"],"at":1,"e":{"conversation":"c-1","k":"ended","reason":"agent_ended"}}"#;
        let batch = format!("[{unknown},{reordered},{no_entry},{ended}]");
        let events: Vec<_> = decode_message(batch.as_bytes())
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[0], Event::Msg { entry, .. } if entry.seq == 2 && entry.text == "hi")
        );
        assert!(matches!(&events[1], Event::Ended { .. }));
    }

    /// As the prelude's `monitors_follow` and `end_conv` write it.
    #[test]
    fn reads_the_monitor_ended_the_scripts_publish() {
        for (lua, reason) in [
            ("out_of_scope", MonitorEndReason::OutOfScope),
            ("ended", MonitorEndReason::Ended),
        ] {
            let text = format!(
                r#"{{"to":["s:sue"],"at":1,"e":{{"k":"monitor_ended","conversation":"c-1","reason":"{lua}"}}}}"#
            );
            let env = decode(text.as_bytes()).expect("decodes");
            assert_eq!(env.to, vec![Audience::Supervisor("sue".into())]);
            assert_eq!(
                env.event,
                Event::MonitorEnded {
                    conversation: "c-1".into(),
                    reason
                }
            );
        }
    }
}
