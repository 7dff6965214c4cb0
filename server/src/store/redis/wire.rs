//! How events travel between nodes over Redis pub/sub: the framing around
//! [`Event`]'s own serde form.
//!
//! ```text
//! message  = envelope *(RS envelope)          ; RS = 0x1E: one step's envelopes for a node, in order
//! envelope = to US at *(US fact) US payload    ; US = 0x1F
//! to       = [member *("," member)]            ; presence members (`keys::member`)
//! at       = Unix ms                           ; publish time
//! payload  = an Event's JSON, built by Rust    ; passed through untouched
//! fact     = name "=" text                     ; a string the step read (a conversation id)
//!          | name ":" json                     ; a number it computed, a JSON text Rust stored
//!          | name "#" seq ":" json             ; a stored entry, with the seq the step gave it
//!          | name "@" json                     ; a stored record, as HGETALL lists it
//! ```
//!
//! JSON, presence members and conversation ids hold no raw control
//! characters, so the two separators are unambiguous. The hub publishes
//! `to US at US payload` ([`encode`]); a script prefixes the header to a
//! payload Rust built (an argument, or one of the library's constants,
//! [`script_payloads`]) and writes into the header only what the step
//! alone knows: the recipients it read, the seq it assigned, the records
//! it read. It never assembles JSON. A fact is a field of the event: the
//! decoder ([`decode_message`]) writes each as a member in front of the
//! payload's own and reads the whole as an [`Event`]; a name ending in `[]`
//! gathers its consecutive facts into a list (an `assigned` transcript).
//! This module knows the store's record layouts (`@`, `#`), never an
//! event's kind.

use std::fmt::Write as _;

use serde_json::value::RawValue;

use super::keys;
use super::replies::{self, Fields};
use crate::domain::conversation::Entry;
use crate::domain::{CardholderPresence, ConversationId, EndReason, Millis, MonitorEndReason};
use crate::events::{Envelope, Event};

/// Separates the envelopes of one message.
pub const RS: char = '\u{1e}';
/// Separates the parts of one envelope.
pub const US: char = '\u{1f}';

/// Writes an envelope the hub publishes: `to US at US payload`.
pub fn encode(envelope: &Envelope) -> Option<String> {
    let mut text = String::with_capacity(128);
    for (i, a) in envelope.to.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&keys::member(a));
    }
    // Writing to a String cannot fail.
    let _ = write!(text, "{US}{}{US}", envelope.at);
    match serde_json::to_string(&envelope.event) {
        Ok(payload) => {
            text.push_str(&payload);
            Some(text)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a hub event");
            None
        }
    }
}

/// Reads one pub/sub message: what one step (or the hub) announced on one
/// channel, in order. An envelope this node cannot read is dropped alone
/// (and logged), so it reaches nobody rather than the wrong people.
pub fn decode_message(payload: &[u8]) -> Vec<Envelope> {
    let Ok(text) = std::str::from_utf8(payload) else {
        tracing::warn!("dropped a hub message that is not UTF-8");
        return Vec::new();
    };
    text.split(RS)
        .filter_map(|e| match decode(e) {
            Ok(env) => Some(env),
            Err(e) => {
                tracing::warn!(error = %e, "dropped an unreadable hub event");
                None
            }
        })
        .collect()
}

/// Reads one envelope.
fn decode(text: &str) -> Result<Envelope, String> {
    let mut parts = text.split(US);
    let to = parts.next().unwrap_or_default();
    let at: Millis = parts
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or("no publish time")?;
    let mut rest: Vec<&str> = parts.collect();
    let payload = rest.pop().ok_or("no payload")?;
    let event = event(&rest, payload)?;
    Ok(Envelope {
        to: to
            .split(',')
            .filter(|m| !m.is_empty())
            .filter_map(keys::audience)
            .collect(),
        at,
        event,
    })
}

/// The event of a payload and the facts a script put before it.
fn event(facts: &[&str], payload: &str) -> Result<Event, String> {
    if facts.is_empty() {
        return serde_json::from_str(payload).map_err(|e| e.to_string());
    }
    let members = payload
        .strip_prefix('{')
        .ok_or("the payload is not an object")?;
    let mut json =
        String::with_capacity(payload.len() + facts.iter().map(|f| f.len()).sum::<usize>() + 16);
    json.push('{');
    let mut list: Option<&str> = None;
    for fact in facts {
        let (name, listed, sigil, value) = split_fact(fact)?;
        match (list, listed) {
            (Some(open), true) if open == name => json.push(','),
            (open, _) => {
                if open.is_some() {
                    json.push_str("],");
                }
                let _ = write!(json, "\"{name}\":");
                if listed {
                    json.push('[');
                }
            }
        }
        list = listed.then_some(name);
        match sigil {
            '=' => json_string(&mut json, value),
            ':' => json.push_str(one_value(value)?),
            '#' => stored_entry(&mut json, value)?,
            '@' => record(&mut json, name, value)?,
            _ => return Err(format!("unknown fact `{fact}`")),
        }
        if !listed {
            json.push(',');
        }
    }
    if list.is_some() {
        json.push_str("],");
    }
    if members.trim_start().starts_with('}') {
        json.pop();
    }
    json.push_str(members);
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// A fact's name, whether it is listed (`name[]`), its sigil and its value.
fn split_fact(fact: &str) -> Result<(&str, bool, char, &str), String> {
    let end = fact
        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .ok_or_else(|| format!("fact without a value: `{fact}`"))?;
    let (name, rest) = fact.split_at(end);
    let (listed, rest) = match rest.strip_prefix("[]") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let mut chars = rest.chars();
    let sigil = chars.next().ok_or("fact without a sigil")?;
    if name.is_empty() {
        return Err(format!("fact without a name: `{fact}`"));
    }
    Ok((name, listed, sigil, chars.as_str()))
}

/// Writes `text` as a JSON string (most are ids, which need no escaping).
fn json_string(json: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        json.push('"');
        json.push_str(text);
        json.push('"');
    } else {
        // Serialising a str cannot fail.
        json.push_str(&serde_json::to_string(text).unwrap_or_default());
    }
}

/// `text` when it is exactly one JSON value (so that a fact can only ever
/// be one member of the event).
fn one_value(text: &str) -> Result<&str, String> {
    serde_json::from_str::<&RawValue>(text)
        .map(RawValue::get)
        .map_err(|e| e.to_string())
}

/// `seq:json`: a stored entry (JSON Rust wrote, without its seq, which is
/// its place in the transcript) with the seq the step gave it.
fn stored_entry(json: &mut String, value: &str) -> Result<(), String> {
    let (seq, entry) = value.split_once(':').ok_or("an entry without its seq")?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad seq `{seq}`"));
    }
    let members = one_value(entry)?
        .strip_prefix('{')
        .ok_or("a stored entry is not an object")?;
    let _ = write!(json, "{{\"seq\":{seq}");
    if !members.trim_start().starts_with('}') {
        json.push(',');
    }
    json.push_str(members);
    Ok(())
}

/// A stored record (a hash, as `HGETALL` lists it, in Lua's JSON), as the
/// record its name says it is.
fn record(json: &mut String, name: &str, value: &str) -> Result<(), String> {
    let fields: Fields = serde_json::from_str(value).map_err(|e| e.to_string())?;
    let text = match name {
        "conversation" => replies::conversation(&fields)
            .map_err(|e| e.to_string())
            .and_then(|c| serde_json::to_string(&c).map_err(|e| e.to_string()))?,
        "request" => replies::callback(&fields)
            .map_err(|e| e.to_string())
            .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string()))?,
        _ => return Err(format!("no record is named `{name}`")),
    };
    json.push_str(&text);
    Ok(())
}

/// The payloads the scripts announce, as a Lua table the library defines
/// before its prelude (`EVENT`): each an [`Event`] serialised here without
/// the fields the step fills in as facts (its conversation, and what it
/// read). The scripts pick one by name and never change it; events whose
/// every field Rust knows at the call (`redact`, `note`) come as call
/// arguments instead.
pub fn script_payloads() -> String {
    let c = ConversationId::from("");
    let entry = Entry {
        seq: 0,
        from: crate::domain::Author::System,
        text: String::new(),
        at: String::new(),
        id: None,
    };
    let msg = without(
        &Event::Msg {
            conversation: c.clone(),
            entry,
        },
        &["conversation", "entry"],
    );
    let mut lua = String::from("local EVENT = {\n");
    let _ = writeln!(lua, "  msg = {},", lua_string(&msg));
    for kind in ["assigned", "escalated"] {
        let _ = writeln!(
            lua,
            "  {kind} = {},",
            lua_string(&serde_json::json!({ "k": kind }).to_string())
        );
    }
    per_value(
        &mut lua,
        "ended",
        EndReason::ALL,
        |conversation, &reason| Event::Ended {
            conversation,
            reason,
        },
    );
    per_value(
        &mut lua,
        "monitor_ended",
        MonitorEndReason::ALL,
        |conversation, &reason| Event::MonitorEnded {
            conversation,
            reason,
        },
    );
    per_value(
        &mut lua,
        "presence",
        CardholderPresence::ALL,
        |conversation, &cardholder| Event::Presence {
            conversation,
            cardholder,
        },
    );
    lua.push_str("}\n");
    lua
}

/// A table `name` of the payloads of an event about a conversation, one
/// per value of a closed set (the step picks one by the value's name).
fn per_value<T: std::fmt::Display>(
    lua: &mut String,
    name: &str,
    all: &[T],
    event: impl Fn(ConversationId, &T) -> Event,
) {
    let _ = writeln!(lua, "  {name} = {{");
    for value in all {
        let payload = without(&event(ConversationId::from(""), value), &["conversation"]);
        let _ = writeln!(
            lua,
            "    [{}] = {},",
            lua_string(&value.to_string()),
            lua_string(&payload)
        );
    }
    lua.push_str("  },\n");
}

/// An event's JSON without the fields a script fills in.
fn without(event: &Event, filled: &[&str]) -> String {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for name in filled {
            map.remove(*name);
        }
    }
    value.to_string()
}

/// A Lua string literal of `s`.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Author, MonitorEndReason};
    use crate::events::Audience;

    /// An envelope as a script frames it: `to US at {US fact} US payload`.
    fn framed(to: &str, facts: &[&str], payload: &str) -> String {
        let mut s = format!("{to}{US}1800000000000");
        for f in facts {
            s.push(US);
            s.push_str(f);
        }
        s.push(US);
        s.push_str(payload);
        s
    }

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
        assert_eq!(decode_message(text.as_bytes()), vec![env]);
    }

    #[test]
    fn reads_what_scripts_publish() {
        // As `announce_entry` frames it: the stored entry, its seq, the msg payload.
        let entry = r#"{"from":"cardholder","text":"hi","at":"2027-01-15T08:00:00Z","id":"k1"}"#;
        let msg = framed(
            "c:ann,a:bob%3Ax",
            &["conversation=c-1", &format!("entry#7:{entry}")],
            r#"{"k":"msg"}"#,
        );
        let [env] = decode_message(msg.as_bytes()).try_into().expect("one");
        assert_eq!(
            env.to,
            vec![
                Audience::Cardholder("ann".into()),
                Audience::Agent("bob:x".into())
            ]
        );
        assert_eq!(env.at, 1_800_000_000_000);
        let Event::Msg {
            conversation,
            entry,
        } = env.event
        else {
            panic!("a msg event")
        };
        assert_eq!(conversation.as_str(), "c-1");
        assert_eq!((entry.seq, entry.text.as_str()), (7, "hi"));
        // As `announce_assigned` frames it: the record, the wait, the transcript.
        let record = r#"["id","c-1","cardholder","ann","card_tier","premium","tier","premium","topic","billing","status","active","agent","bob","agent_name","Bob","created_at","1","queued_at","1","last_seq","2"]"#;
        let e = r#"{"from":"cardholder","text":"a","at":"2027-01-15T08:00:00Z"}"#;
        let assigned = framed(
            "a:bob,c:ann",
            &[
                &format!("conversation@{record}"),
                "waited_ms:5",
                &format!("transcript[]#1:{e}"),
                &format!("transcript[]#2:{e}"),
            ],
            r#"{"k":"assigned"}"#,
        );
        let [env] = decode_message(assigned.as_bytes()).try_into().expect("one");
        let Event::Assigned {
            conversation,
            waited_ms,
            transcript,
        } = env.event
        else {
            panic!("an assigned event")
        };
        assert_eq!((conversation.id.as_str(), waited_ms), ("c-1", 5));
        assert_eq!(
            transcript.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // No transcript yet, and an empty record list (`{}` in Lua's JSON) is refused.
        let bare = framed(
            "a:bob",
            &[&format!("conversation@{record}"), "waited_ms:0"],
            r#"{"k":"assigned"}"#,
        );
        assert!(matches!(
            &decode_message(bare.as_bytes())[..],
            [Envelope { event: Event::Assigned { transcript, .. }, .. }] if transcript.is_empty()
        ));
        let empty = framed(
            "a:bob",
            &["conversation@{}", "waited_ms:0"],
            r#"{"k":"assigned"}"#,
        );
        assert!(decode_message(empty.as_bytes()).is_empty());
        // As `escalate.lua` frames it: the request's record.
        let request = r#"["ref","cb-1","desk","fraud","sub","ann","tier","premium","reason","r","conversation","c-1","created_at","1","status","requested","attempts","0"]"#;
        let escalated = framed(
            "c:ann",
            &["conversation=c-1", &format!("request@{request}")],
            r#"{"k":"escalated"}"#,
        );
        let [env] = decode_message(escalated.as_bytes())
            .try_into()
            .expect("one");
        assert!(matches!(
            env.event,
            Event::Escalated { conversation, request }
                if conversation.as_str() == "c-1" && request.reference.as_str() == "cb-1"
        ));
        // A fact is one value: it cannot add members of its own.
        let sneaky = framed(
            "c:ann",
            &["conversation=c-1", "seq:1,\"x\":2"],
            r#"{"k":"read","from":"agent"}"#,
        );
        assert!(decode_message(sneaky.as_bytes()).is_empty());
    }

    #[test]
    fn reads_what_one_step_announced_on_a_channel_in_order() {
        let one = |seq: u32| {
            framed(
                "c:ann",
                &[
                    "conversation=c-1",
                    &format!(
                        r#"entry#{seq}:{{"from":"agent","text":"m{seq}","at":"2027-01-15T08:00:00Z"}}"#
                    ),
                ],
                r#"{"k":"msg"}"#,
            )
        };
        let batch = format!("{}{RS}{}{RS}{}", one(3), one(4), one(5));
        let seqs: Vec<_> = decode_message(batch.as_bytes())
            .into_iter()
            .map(|e| match e.event {
                Event::Msg { entry, .. } => entry.seq,
                _ => 0,
            })
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(decode_message(one(9).as_bytes()).len(), 1);
        assert!(decode_message(b"c:ann\x1f1\x1f{\"k\":").is_empty());
    }

    /// An event this node cannot read (unknown kind, a `msg` without its
    /// entry, a bad fact) is dropped alone, and the rest of its message
    /// still arrives.
    #[test]
    fn drops_only_unreadable_events() {
        let entry = r#"{"from":"agent","text":"hi","at":"2027-01-15T08:00:00Z"}"#;
        let good = framed(
            "c:ann",
            &["conversation=c-1", &format!("entry#2:{entry}")],
            r#"{"k":"msg"}"#,
        );
        let unknown = framed("c:ann", &["conversation=c-1"], r#"{"k":"teleport"}"#);
        let no_entry = framed("c:ann", &["conversation=c-1"], r#"{"k":"msg"}"#);
        let bad_seq = framed(
            "c:ann",
            &["conversation=c-1", &format!("entry#x:{entry}")],
            r#"{"k":"msg"}"#,
        );
        let ended = framed(
            "c:ann",
            &["conversation=c-1"],
            r#"{"k":"ended","reason":"agent_ended"}"#,
        );
        let batch = [unknown, good, no_entry, bad_seq, ended].join(&RS.to_string());
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

    /// The library's payloads are events without the facts the scripts add.
    #[test]
    fn script_payloads_become_events_with_their_facts() {
        let lua = script_payloads();
        let payload = |key: &str| {
            let at = lua.find(key).expect(key) + key.len();
            let line = &lua[at..lua[at..].find('\n').map_or(lua.len(), |n| at + n)];
            line.trim_start_matches([' ', '=', ']'])
                .trim_end_matches(',')
                .trim_matches('"')
                .replace("\\\"", "\"")
        };
        assert_eq!(payload("msg ="), r#"{"k":"msg"}"#);
        for reason in MonitorEndReason::ALL {
            let text = framed(
                "s:sue",
                &["conversation=c-1"],
                &payload(&format!("[\"{}\"]", reason.as_str())),
            );
            let [env] = decode_message(text.as_bytes()).try_into().expect("one");
            assert_eq!(env.to, vec![Audience::Supervisor("sue".into())]);
            assert_eq!(
                env.event,
                Event::MonitorEnded {
                    conversation: "c-1".into(),
                    reason: *reason
                }
            );
        }
        let away = framed("a:bob", &["conversation=c-1"], &payload("[\"away\"]"));
        assert_eq!(
            decode_message(away.as_bytes())[0].event,
            Event::Presence {
                conversation: "c-1".into(),
                cardholder: CardholderPresence::Away
            }
        );
    }
}
