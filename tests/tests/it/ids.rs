//! Ids that come from a client are parsed against the shape the hub issues
//! before anything reaches the store (SPEC "Identity"): a malformed
//! `conversation`, `before`, `ref` or message `id` is answered `bad_field`,
//! never `unavailable` or `no_conversation`, and Redis hears nothing of it.

use serde_json::{json, Value};
use switchboard_tests::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every command the test's own `redis-server` carries out, as `MONITOR`
/// prints them (scripts' commands included), read on a connection of its own.
struct RedisMonitor {
    lines: tokio::io::Lines<BufReader<TcpStream>>,
}

impl RedisMonitor {
    async fn start(redis: &RedisServer) -> RedisMonitor {
        let mut stream = TcpStream::connect(("127.0.0.1", redis.port))
            .await
            .expect("connect to redis");
        stream.write_all(b"MONITOR\r\n").await.expect("MONITOR");
        let mut lines = BufReader::new(stream).lines();
        let ok = lines.next_line().await.expect("read").expect("a line");
        assert_eq!(ok, "+OK");
        RedisMonitor { lines }
    }

    /// The commands seen until (not including) the first one that contains
    /// `until`; fails the test if none does within [`EVENT_TIMEOUT`].
    async fn until(&mut self, until: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let read = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("read")
                    .expect("monitor open");
                if line.contains(until) {
                    return;
                }
                seen.push(line);
            }
        };
        tokio::time::timeout(EVENT_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| panic!("redis never saw a command naming `{until}`"));
        seen
    }
}

fn supervisor(sub: &str, teams: &[&str]) -> String {
    token(json!({"sub": sub, "role": "supervisor", "teams": teams, "name": "Supervisor"}))
}

/// Conversation ids the hub never issues, made from a real one `real`
/// (`c-` + 32 lowercase hex digits).
fn bad_conversations(real: &str) -> Vec<String> {
    let hex = &real[2..];
    vec![
        format!("{real}:monitors"),
        format!("{real}:*"),
        "*".into(),
        String::new(),
        format!("c-{}", hex.to_uppercase()),
        format!("{real}0"),
        real[..real.len() - 1].to_owned(),
        format!("c-{}é", &hex[..31]),
        format!("{real}\n"),
        format!("x-{hex}"),
    ]
}

/// Callback references the hub never issues, made from a real one (`FR-` +
/// six digits).
fn bad_refs(real: &str) -> Vec<String> {
    vec![
        format!("{real}:monitors"),
        "*".into(),
        String::new(),
        real.to_lowercase(),
        format!("{real}0"),
        real[..real.len() - 1].to_owned(),
        format!("XX-{}", &real[3..]),
        format!("{}٣", &real[..real.len() - 1]),
    ]
}

/// Client keys outside 1–64 of `[A-Za-z0-9_-]`.
fn bad_keys() -> Vec<String> {
    vec![
        String::new(),
        "a:b".into(),
        "*".into(),
        "k 1".into(),
        "lt:c:1:2".into(),
        "é".into(),
        "k".repeat(65),
    ]
}

/// Sends `frame` and expects the `error` it is answered with to be
/// `bad_field`, naming `field`, with `ref` = `reference`.
async fn refused(c: &mut Client, frame: Value, field: &str, reference: Option<&str>) {
    c.send(frame.clone()).await;
    let e = c.expect("error").await;
    assert_eq!(e["code"], "bad_field", "{frame} got {e}");
    let message = e["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("`{field}`")),
        "{frame}: the message names `{field}`: {message}"
    );
    assert_eq!(e["ref"].as_str(), reference, "{frame} got {e}");
}

#[tokio::test]
async fn malformed_ids_are_bad_field_and_never_reach_redis() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut settings = redis_settings(&redis.url(), &prefix);
    // Hundreds of frames from each client, as fast as they are answered.
    settings.rate_burst = 10_000.0;
    settings.rate_per_sec = 10_000.0;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "ids-ag", &["standard", "fraud"], 3).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("ids-ch", "standard")).await;
    let real = paired(&mut ch, &mut ag, "billing").await;
    // A real callback request, so its reference has the shape the hub issues.
    let (mut locked, _) = Client::connect(&url, &cardholder("ids-fr", "standard")).await;
    locked
        .send(json!({"type": "start", "topic": "fraud_restriction"}))
        .await;
    let escalated = locked.expect("escalated").await;
    let real_ref = escalated["callback"]["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    ag.expect_where("callback", |f| f["request"]["ref"] == real_ref.as_str())
        .await;
    let (mut sup, _) = Client::connect(&url, &supervisor("ids-sv", &["standard"])).await;
    // The ids as issued pass: the shapes below are exactly the hub's.
    sup.send(json!({"type": "monitor", "conversation": real}))
        .await;
    sup.expect("transcript").await;
    sup.send(json!({"type": "unmonitor", "conversation": real}))
        .await;
    // Frames are carried out in order: once `queues` is answered, so is `unmonitor`.
    sup.send(json!({"type": "queues"})).await;
    sup.expect("queues").await;
    ag.send(json!({"type": "sync", "conversation": real, "after": 0}))
        .await;
    ag.expect("transcript").await;

    let mut monitor = RedisMonitor::start(&redis).await;
    for x in bad_conversations(&real) {
        let agent_frames = [
            json!({"type": "say", "conversation": x, "id": "a1", "text": "hi"}),
            json!({"type": "typing", "conversation": x, "on": true}),
            json!({"type": "read", "conversation": x, "seq": 1}),
            json!({"type": "sync", "conversation": x, "after": 0}),
            json!({"type": "end", "conversation": x}),
            json!({"type": "transfer", "conversation": x, "tier": "premium"}),
            json!({"type": "note", "conversation": x, "text": "n"}),
            json!({"type": "escalate", "conversation": x, "desk": "fraud"}),
            json!({"type": "history", "conversation": x}),
            json!({"type": "transcript", "conversation": x}),
            json!({"type": "claim_message", "conversation": x}),
            json!({"type": "resolve", "conversation": x}),
        ];
        for frame in agent_frames {
            let reference = frame.get("id").map(|_| "a1");
            refused(&mut ag, frame, "conversation", reference).await;
        }
        refused(
            &mut ag,
            json!({"type": "history", "conversation": real, "before": x}),
            "before",
            None,
        )
        .await;
        let cardholder_frames = [
            json!({"type": "say", "conversation": x, "id": "k1", "text": "hi"}),
            json!({"type": "typing", "conversation": x, "on": true}),
            json!({"type": "read", "conversation": x, "seq": 1}),
            json!({"type": "sync", "conversation": x, "after": 0}),
            json!({"type": "rate", "conversation": x, "score": 5}),
            json!({"type": "transcript", "conversation": x}),
        ];
        for frame in cardholder_frames {
            let reference = frame.get("id").map(|_| "k1");
            refused(&mut ch, frame, "conversation", reference).await;
        }
        refused(
            &mut ch,
            json!({"type": "history", "before": x}),
            "before",
            None,
        )
        .await;
        let supervisor_frames = [
            json!({"type": "monitor", "conversation": x}),
            json!({"type": "unmonitor", "conversation": x}),
            json!({"type": "reassign", "conversation": x}),
            json!({"type": "sync", "conversation": x, "after": 0}),
        ];
        for frame in supervisor_frames {
            refused(&mut sup, frame, "conversation", None).await;
        }
    }
    for r in bad_refs(&real_ref) {
        refused(
            &mut ag,
            json!({"type": "claim_callback", "ref": r}),
            "ref",
            None,
        )
        .await;
        refused(
            &mut ag,
            json!({"type": "complete_callback", "ref": r, "outcome": "no_answer"}),
            "ref",
            None,
        )
        .await;
    }
    for k in bad_keys() {
        refused(
            &mut ag,
            json!({"type": "say", "conversation": real, "id": k, "text": "hi"}),
            "id",
            None,
        )
        .await;
        refused(
            &mut ch,
            json!({"type": "say", "id": k, "text": "hi"}),
            "id",
            None,
        )
        .await;
        refused(
            &mut ch,
            json!({"type": "start", "topic": "billing", "mode": "message", "text": "hi", "id": k}),
            "id",
            None,
        )
        .await;
    }
    refused(
        &mut sup,
        json!({"type": "set_agent_state", "agent": "", "state": "away"}),
        "agent",
        None,
    )
    .await;
    refused(
        &mut sup,
        json!({"type": "set_agent_state", "agent": "a".repeat(129), "state": "away"}),
        "agent",
        None,
    )
    .await;

    // Nothing was stored or sent on the chat.
    ch.expect_none("msg", QUIET_PERIOD).await;
    // A valid frame last, with a key nothing else names: Redis hears it (so
    // the monitor was listening), and nothing before it named the chat, the
    // request or a malformed key.
    const CONTROL: &str = "ids-control-7c1e";
    ag.send(json!({"type": "say", "conversation": real, "id": CONTROL, "text": "ok"}))
        .await;
    ag.expect_where("msg", |f| f["id"] == CONTROL).await;
    let seen = monitor.until(CONTROL).await;
    let hex = &real[2..22];
    let digits = &real_ref[..real_ref.len() - 1];
    let forbidden = [
        hex.to_owned(),
        hex.to_uppercase(),
        digits.to_owned(),
        digits.to_lowercase(),
        format!("{prefix}:conv:*"),
        format!("{prefix}:tx:*"),
        format!("{prefix}:cb:*"),
        format!("{prefix}:conv:\""),
        format!("{prefix}:tx:\""),
        format!("{prefix}:cb:\""),
        "monitors:monitors".into(),
        "\\xc3\\xa9".into(),
        "\\xd9\\xa3".into(),
    ];
    for line in &seen {
        for f in &forbidden {
            assert!(!line.contains(f.as_str()), "redis saw `{f}`: {line}");
        }
    }
    hub.shutdown().await;
}
