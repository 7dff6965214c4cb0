//! `docs/protocol.md` shows frames; this parses every one of them with the
//! hub's own types, so the document cannot drift from the code.
//!
//! What counts as an example:
//! - every JSON value in a fenced ```` ```json ```` block (a block may hold
//!   several, one per line, or one spread over lines). Each must be a frame;
//! - every inline code span that starts with `{"` and has a `type` (such as
//!   the first-frame `auth` in §2.1). Inline objects without a `type` (HTTP
//!   bodies, token claims, shapes such as `{"error":…}`) are not frames and
//!   are left alone.
//!
//! Which side a frame is: under "3.1 Client → hub" every example is a
//! [`ClientFrame`]; under "3.2 Hub → clients" every example is a
//! [`ServerFrame`]. Elsewhere a `type` that only one side uses decides, and
//! one both use (`typing`, `read`, `callbacks`) fails the test as ambiguous.
//!
//! An example must parse, and serialising what was parsed must give the
//! example back: a misspelt optional field would otherwise be ignored by
//! serde and pass unnoticed. (The doc's `…` in an id is kept as text, so it
//! round-trips too.)
//!
//! Deliberately invalid examples: a block right after a line of prose (not
//! a table row or a heading) that says "refused", "rejected", "invalid" or
//! "malformed" shows what the hub refuses; it is skipped, and counted so the
//! rule stays visible. (Today the doc has none: its refusals are described
//! in prose and tables, and every example is a valid frame.)

use serde_json::Value;
use switchboard::protocol::{ClientFrame, ServerFrame};

/// Fewer examples than this means the extraction broke, not that the doc
/// got shorter: it shows about fifty frames.
const MIN_EXAMPLES: usize = 30;

/// Words in the prose line before a block that mark its examples as
/// deliberately invalid.
const INVALID_MARKERS: &[&str] = &["refused", "rejected", "invalid", "malformed"];

/// Which frames a part of the document shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    /// §3.1.
    Client,
    /// §3.2.
    Server,
    /// Anywhere else: decided by `type`.
    Either,
}

/// One example, with where it is.
#[derive(Debug)]
struct Example {
    /// 1-based line of the doc where it starts.
    line: usize,
    side: Side,
    value: Value,
}

/// The client frame types, from the code's own list of variants: a frame of
/// each type, serialised, gives its `type`.
fn client_types() -> Vec<String> {
    let samples = [
        r#"{"type":"auth","token":"t"}"#,
        r#"{"type":"start","topic":"general"}"#,
        r#"{"type":"say","id":"k","text":"x"}"#,
        r#"{"type":"typing","on":true}"#,
        r#"{"type":"read","seq":1}"#,
        r#"{"type":"sync","after":0}"#,
        r#"{"type":"leave"}"#,
        r#"{"type":"call_me_back"}"#,
        r#"{"type":"status","state":"away"}"#,
        r#"{"type":"end","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"transfer","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","tier":"premium"}"#,
        r#"{"type":"note","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","text":"x"}"#,
        r#"{"type":"rate","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","score":5}"#,
        r#"{"type":"escalate","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b","desk":"fraud"}"#,
        r#"{"type":"callbacks","desk":"fraud"}"#,
        r#"{"type":"claim_callback","ref":"ID-000001"}"#,
        r#"{"type":"complete_callback","ref":"ID-000001","outcome":"reached"}"#,
        r#"{"type":"queues"}"#,
        r#"{"type":"history"}"#,
        r#"{"type":"transcript","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"watch"}"#,
        r#"{"type":"set_agent_state","agent":"a","state":"away"}"#,
        r#"{"type":"reassign","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"monitor","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"unmonitor","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"threads"}"#,
        r#"{"type":"inbox","team":"standard"}"#,
        r#"{"type":"claim_message","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
        r#"{"type":"resolve","conversation":"c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b"}"#,
    ];
    samples
        .iter()
        .map(|s| {
            let frame = ClientFrame::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
            let v = serde_json::to_value(frame).expect("serialises");
            v["type"].as_str().expect("a type").to_owned()
        })
        .collect()
}

/// The server frame types.
const SERVER_TYPES: &[&str] = &[
    "welcome",
    "queued",
    "assigned",
    "msg",
    "typing",
    "read",
    "escalated",
    "ended",
    "callbacks",
    "callback",
    "queues",
    "error",
    "transcript",
    "redact",
    "history",
    "overview",
    "status",
    "presence",
    "threads",
    "inbox",
    "inbox_item",
    "note",
    "rated",
    "monitor_ended",
];

/// Every example in the document; the count of skipped invalid blocks.
fn examples(doc: &str) -> (Vec<Example>, usize) {
    let mut found = Vec::new();
    let mut skipped = 0;
    let mut side = Side::Either;
    let mut prose = "";
    let mut block: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if let Some((start, text)) = block.as_mut() {
            if trimmed == "```" {
                let start = *start;
                let text = std::mem::take(text);
                block = None;
                let lower = prose.to_lowercase();
                if INVALID_MARKERS.iter().any(|m| lower.contains(m)) {
                    skipped += 1;
                    continue;
                }
                let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
                let mut end = 0;
                while let Some(value) = values.next() {
                    let value = value.unwrap_or_else(|e| {
                        panic!("docs/protocol.md:{start}: not JSON: {e}\n{text}")
                    });
                    // The value starts after the previous one's end and the
                    // whitespace that follows it.
                    let rest = &text[end..];
                    let begins = end + rest.len() - rest.trim_start().len();
                    found.push(Example {
                        line: start + 1 + text[..begins].matches('\n').count(),
                        side,
                        value,
                    });
                    end = values.byte_offset();
                }
            } else {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        if trimmed.starts_with("```json") {
            block = Some((n, String::new()));
            continue;
        }
        if let Some(heading) = trimmed.strip_prefix('#') {
            let heading = heading.trim_start_matches('#').trim();
            if heading.starts_with("3.1 ") {
                side = Side::Client;
            } else if heading.starts_with("3.2 ") {
                side = Side::Server;
            } else if heading.starts_with(|c: char| c.is_ascii_digit()) {
                side = Side::Either;
            }
        }
        for span in inline_code(line) {
            if !span.starts_with("{\"") {
                continue;
            }
            // Shapes with placeholders (`{"error":…}`) are not JSON; a frame
            // (anything naming a `type`) must be.
            let value = match serde_json::from_str::<Value>(span) {
                Ok(value) => value,
                Err(e) if span.contains("\"type\"") => {
                    panic!("docs/protocol.md:{n}: inline frame `{span}` is not JSON: {e}")
                }
                Err(_) => continue,
            };
            if value.get("type").is_some() {
                found.push(Example {
                    line: n,
                    side,
                    value,
                });
            }
        }
        if !trimmed.is_empty() {
            // Table rows and headings describe fields, not the block below.
            prose = if trimmed.starts_with('|') || trimmed.starts_with('#') {
                ""
            } else {
                line
            };
        }
    }
    assert!(
        block.is_none(),
        "docs/protocol.md: a ```json block is not closed"
    );
    (found, skipped)
}

/// The inline code spans (single backticks) of a line.
fn inline_code(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// Parses one example as the frame it documents; `Err` says why it is wrong.
fn check(example: &Example, client_types: &[String]) -> Result<(), String> {
    let v = &example.value;
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("no string `type`: every example must be a frame")?;
    let is_client = client_types.iter().any(|t| t == kind);
    let is_server = SERVER_TYPES.contains(&kind);
    let side = match example.side {
        Side::Either if is_client && is_server => {
            return Err(format!(
                "`{kind}` is a client and a server frame; show it under §3.1 or §3.2"
            ))
        }
        Side::Either if is_client => Side::Client,
        Side::Either if is_server => Side::Server,
        Side::Either => return Err(format!("`{kind}` is not a frame type")),
        side => side,
    };
    let text = v.to_string();
    let back = match side {
        Side::Client => {
            if !is_client {
                return Err(format!("`{kind}` is not a client frame type"));
            }
            let frame = ClientFrame::parse(&text).map_err(|e| format!("{e:?}"))?;
            serde_json::to_value(frame).map_err(|e| e.to_string())?
        }
        _ => {
            if !is_server {
                return Err(format!("`{kind}` is not a server frame type"));
            }
            let frame: ServerFrame = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            serde_json::to_value(frame).map_err(|e| e.to_string())?
        }
    };
    if &back != v {
        return Err(format!(
            "parses, but fields are missing or unknown to the code; the code writes it as\n  {back}"
        ));
    }
    Ok(())
}

#[test]
fn every_frame_shown_in_protocol_md_parses_as_that_frame() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (examples, skipped) = examples(&doc);
    let client_types = client_types();
    let failures: Vec<String> = examples
        .iter()
        .filter_map(|e| {
            check(e, &client_types)
                .err()
                .map(|why| format!("docs/protocol.md:{}: {}\n  {why}", e.line, e.value))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples do not match the code:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
    assert!(
        examples.len() >= MIN_EXAMPLES,
        "only {} examples found ({skipped} skipped as invalid): is the extraction broken?",
        examples.len()
    );
    // Every frame type the hub speaks is shown at least once.
    for kind in client_types
        .iter()
        .map(String::as_str)
        .chain(SERVER_TYPES.iter().copied())
    {
        assert!(
            examples.iter().any(|e| e.value["type"] == kind),
            "docs/protocol.md shows no `{kind}` frame"
        );
    }
    println!(
        "docs/protocol.md: {} examples checked, {skipped} skipped as invalid",
        examples.len()
    );
}
