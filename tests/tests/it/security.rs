//! Identity, masking and text rules an attacker would try: users are
//! (role, sub), card numbers are masked even over two messages, invisible
//! and control characters never reach anyone, one user holds a bounded
//! number of connections.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_tests::*;

/// How long an absence is waited for.
const QUIET: Duration = Duration::from_millis(500);

/// Fails if a frame of this kind matching `pred` arrives within [`QUIET`].
async fn none_within(c: &mut Client, kind: &str, pred: impl Fn(&Value) -> bool) {
    let arrived = tokio::time::timeout(QUIET, c.expect_where(kind, pred)).await;
    assert!(arrived.is_err(), "unexpected {kind}: {:?}", arrived.ok());
}

async fn redis_hub(redis: &RedisServer) -> TestHub {
    TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await
}

#[tokio::test]
async fn a_cardholder_with_an_agents_sub_hears_nothing_of_the_agent() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let mut agent = available_agent(&url, "alice", &["standard"], 3).await;
    let (mut namesake, _) = Client::connect(&url, &cardholder("alice", "standard")).await;
    let (mut bob, _) = Client::connect(&url, &cardholder("bob", "standard")).await;
    let id = paired(&mut bob, &mut agent, "billing").await;
    agent
        .send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Hello Bob"}))
        .await;
    assert_eq!(bob.expect_msg(1).await["text"], "Hello Bob");
    // The agent's own echo goes to agent alice only, never to cardholder alice.
    agent.expect_msg(1).await;
    none_within(&mut namesake, "msg", |_| true).await;
    none_within(&mut namesake, "assigned", |_| true).await;
    // Cardholder alice's own start is hers, not the agent's.
    namesake
        .send(json!({"type": "start", "topic": "billing"}))
        .await;
    let hers = namesake.expect("assigned").await;
    assert_ne!(hers["conversation"], id.as_str());
}

#[tokio::test]
async fn a_sub_naming_a_desk_hears_no_desk_events() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let (mut fraud_agent, _) = Client::connect(&url, &agent("fa", &["fraud"], 3)).await;
    let (mut pretender, _) = Client::connect(&url, &cardholder("#desk:fraud", "standard")).await;
    let (mut victim, _) = Client::connect(&url, &cardholder("vic", "premium")).await;
    victim
        .send(json!({"type": "start", "topic": "fraud_restriction"}))
        .await;
    victim.expect("escalated").await;
    let event = fraud_agent.expect("callback").await;
    assert_eq!(event["request"]["sub"], "vic");
    none_within(&mut pretender, "callback", |_| true).await;
}

#[tokio::test]
async fn a_card_number_split_over_two_messages_is_redacted() {
    for engine in ["memory", "redis"] {
        let redis = RedisServer::start();
        let settings = match engine {
            "memory" => memory_settings(),
            _ => redis_settings(&redis.url(), &unique_prefix()),
        };
        let hub = TestHub::spawn(settings).await;
        let url = hub.ws_url();
        let mut ag = available_agent(&url, "ag", &["standard"], 3).await;
        let (mut ch, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
        let id = paired(&mut ch, &mut ag, "billing").await;
        ch.send(json!({"type": "say", "id": "k1", "text": "my card is 4111 1111"}))
            .await;
        assert_eq!(ag.expect_msg(1).await["text"], "my card is 4111 1111");
        ch.send(json!({"type": "say", "id": "k2", "text": "1111 1111"}))
            .await;
        for side in [&mut ag, &mut ch] {
            let redact = side.expect("redact").await;
            assert_eq!(redact["conversation"], id.as_str(), "{engine}");
            assert_eq!(redact["seq"], 1);
            let text = redact["text"].as_str().expect("text");
            assert!(!text.contains("4111"), "{engine}: {text}");
            let second = side.expect_msg(2).await;
            let second = second["text"].as_str().expect("text");
            assert!(
                second.ends_with("1111") && !second.contains("1111 1111"),
                "{engine}: {second}"
            );
        }
        // The store holds the masked texts: a sync shows them.
        let (mut again, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
        again.send(json!({"type": "sync", "after": 0})).await;
        let page = again.expect("transcript").await;
        let first = &page["entries"][0];
        assert_eq!(first["seq"], 1);
        assert!(
            !first["text"].as_str().expect("text").contains("4111"),
            "{engine}"
        );
    }
}

/// A card number (Luhn-valid) whose 8-digit stretches nothing else holds.
const PAN: &str = "4242424242424242";

/// Whether `text` holds 8 or more consecutive digits of [`PAN`], however
/// they were separated (digits, spaces and dashes taken together).
fn holds_pan_digits(text: &str) -> bool {
    let windows: Vec<&str> = (0..=PAN.len() - 8).map(|i| &PAN[i..i + 8]).collect();
    text.split(|c: char| !(c.is_ascii_digit() || c == ' ' || c == '-'))
        .map(|stretch| stretch.replace([' ', '-'], ""))
        .any(|digits| windows.iter().any(|w| digits.contains(w)))
}

/// Everything Redis holds under `prefix`, as text.
async fn redis_contents(url: &str, prefix: &str) -> String {
    let mut conn = redis_conn(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut all = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TYPE");
        let cmd = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).clone(),
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
            "hash" => redis::cmd("HGETALL").arg(&key).clone(),
            "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
            "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone(),
            "stream" => redis::cmd("XRANGE").arg(&key).arg("-").arg("+").clone(),
            _ => continue,
        };
        let value: redis::Value = cmd.query_async(&mut conn).await.expect("read a key");
        all.push_str(&format!("{key} {value:?}\n"));
    }
    all
}

/// One way a cardholder types a card over several messages: who says what,
/// in order (`ch`, `ch2`: two connections of the cardholder, `ag`: the agent).
struct SplitTyping {
    what: &'static str,
    says: &'static [(&'static str, &'static str)],
}

const SPLIT_TYPINGS: [SplitTyping; 4] = [
    SplitTyping {
        what: "three messages",
        says: &[("ch", "4242 4242"), ("ch", "4242"), ("ch", "4242")],
    },
    SplitTyping {
        what: "four messages of four digits",
        says: &[
            ("ch", "4242"),
            ("ch", "4242"),
            ("ch", "4242"),
            ("ch", "4242"),
        ],
    },
    SplitTyping {
        what: "an agent message in between",
        says: &[
            ("ch", "my card is 4242 4242"),
            ("ag", "go on"),
            ("ch", "4242"),
            ("ch", "4242 thanks"),
        ],
    },
    SplitTyping {
        what: "two connections of the cardholder",
        says: &[("ch", "4242 4242"), ("ch2", "4242,"), ("ch", "4242")],
    },
];

#[tokio::test]
async fn a_card_number_split_over_three_or_more_messages_is_redacted_everywhere() {
    for engine in ["memory", "redis"] {
        for (n, typing) in SPLIT_TYPINGS.iter().enumerate() {
            let redis = RedisServer::start();
            let prefix = unique_prefix();
            let settings = match engine {
                "memory" => memory_settings(),
                _ => redis_settings(&redis.url(), &prefix),
            };
            let hub = TestHub::spawn(settings).await;
            let url = hub.ws_url();
            let who = format!("{engine} {}", typing.what);
            let sub = format!("ch{n}");
            let mut ag = available_agent(&url, "ag", &["standard"], 3).await;
            let (mut ch, _) = Client::connect(&url, &cardholder(&sub, "standard")).await;
            let id = paired(&mut ch, &mut ag, "billing").await;
            let (mut ch2, _) = Client::connect(&url, &cardholder(&sub, "standard")).await;
            // Which entries are the cardholder's (and so redacted).
            let mut theirs = Vec::new();
            for (i, (by, text)) in typing.says.iter().enumerate() {
                let seq = i as u64 + 1;
                let frame = match *by {
                    "ag" => {
                        json!({"type": "say", "conversation": id, "id": format!("a{seq}"), "text": text})
                    }
                    _ => json!({"type": "say", "id": format!("k{seq}"), "text": text}),
                };
                match *by {
                    "ag" => ag.send(frame).await,
                    "ch2" => ch2.send(frame).await,
                    _ => ch.send(frame).await,
                }
                if *by != "ag" {
                    theirs.push(seq);
                }
                // Stored before the next one is typed.
                ag.expect_msg(seq).await;
            }
            let last = typing.says.len() as u64;
            theirs.retain(|&s| s != last);
            for (side, c) in [
                ("agent", &mut ag),
                ("cardholder", &mut ch),
                ("other device", &mut ch2),
            ] {
                for &seq in &theirs {
                    let redact = c.expect_where("redact", |f| f["seq"] == seq).await;
                    assert_eq!(redact["conversation"], id.as_str(), "{who}, {side}");
                    let text = redact["text"].as_str().expect("text");
                    assert!(!text.contains("4242"), "{who}, {side}: seq {seq} -> {text}");
                }
                if side != "agent" {
                    let msg = c.expect_msg(last).await;
                    let text = msg["text"].as_str().expect("text");
                    assert!(
                        text.contains("4242") && !holds_pan_digits(text),
                        "{who}, {side}: {text}"
                    );
                }
            }
            // What the store holds: a sync from a new connection, and (Redis) every key.
            let (mut again, _) = Client::connect(&url, &cardholder(&sub, "standard")).await;
            again.send(json!({"type": "sync", "after": 0})).await;
            let page = again.expect("transcript").await;
            let texts: Vec<&str> = page["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["text"].as_str().expect("text"))
                .collect();
            assert_eq!(texts.len(), typing.says.len(), "{who}: {texts:?}");
            let digits: String = texts
                .concat()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            assert!(!holds_pan_digits(&digits), "{who}: {texts:?}");
            assert_eq!(
                digits.matches("4242").count(),
                1,
                "only the last four: {who}: {texts:?}"
            );
            if engine == "redis" {
                let held = redis_contents(&redis.url(), &prefix).await;
                assert!(held.contains("4242"), "{who}: the scan sees the transcript");
                assert!(!holds_pan_digits(&held), "{who}: Redis holds {held}");
            }
        }
    }
}

#[tokio::test]
async fn invisible_and_control_characters_never_reach_the_agent() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "ag", &["standard"], 3).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
    ch.send(json!({"type": "start", "topic": "billing"})).await;
    ch.expect("assigned").await;
    ag.expect("assigned").await;
    ch.send(json!({"type": "say", "id": "k1", "text": "pay \u{202E}evil\u{202C} now\u{200B}"}))
        .await;
    assert_eq!(ag.expect_msg(1).await["text"], "pay evil now");
    for (id, text) in [
        ("k2", "\u{200B}\u{FEFF}\u{2060}"),
        ("k3", "a\u{0}b"),
        ("k4", "\u{1b}[31mred"),
    ] {
        ch.send(json!({"type": "say", "id": id, "text": text}))
            .await;
        let e = ch.expect("error").await;
        assert_eq!(
            (e["code"].as_str(), e["ref"].as_str()),
            (Some("bad_field"), Some(id))
        );
    }
    none_within(&mut ag, "msg", |_| true).await;
}

#[tokio::test]
async fn one_more_connection_than_allowed_closes_the_oldest_with_4409() {
    let mut settings = memory_settings();
    settings.max_connections_per_user = 2;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut first, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
    let (mut second, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
    // An agent with the same sub is another user: it does not count.
    let (_agent, _) = Client::connect(&url, &agent("ch", &["standard"], 1)).await;
    none_within(&mut first, "error", |_| true).await;
    let (_third, _) = Client::connect(&url, &cardholder("ch", "standard")).await;
    assert!(matches!(first.expect_close().await, Closed::Code(4409)));
    none_within(&mut second, "error", |_| true).await;
}

#[tokio::test]
async fn sync_is_paged_at_200_entries() {
    let mut settings = memory_settings();
    settings.rate_burst = 1_000.0;
    settings.rate_per_sec = 1_000.0;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("long", "standard")).await;
    ch.send(json!({"type": "start", "topic": "billing"})).await;
    ch.expect("queued").await;
    // Each echo is read as it comes, as a client does (one that stops
    // reading is closed as too slow).
    for i in 1..=450u64 {
        ch.send(json!({"type": "say", "id": format!("k{i}"), "text": format!("line {i}")}))
            .await;
        ch.expect_msg(i).await;
    }
    // A fresh connection replays it (one that got the entries live is not
    // sent them again).
    let (mut reader, _) = Client::connect(&url, &cardholder("long", "standard")).await;
    let mut after = 0u64;
    let mut pages = Vec::new();
    loop {
        reader.send(json!({"type": "sync", "after": after})).await;
        let page = reader.expect("transcript").await;
        let seqs = page_seqs(&page);
        assert_eq!(seqs.first(), Some(&(after + 1)), "pages follow on");
        pages.push(seqs.len());
        after = *seqs.last().expect("a page has entries");
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(pages, vec![200, 200, 50]);
    assert_eq!(after, 450);
}

#[tokio::test]
async fn blank_looking_texts_are_refused_and_names_arrive_clean() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let agent_token = token(json!({"sub": "ag", "role": "agent", "teams": ["standard"],
        "name": "Alex \u{1F469}\u{200D}\u{1F4BB}\u{E0041}"}));
    let (mut ag, _) = Client::connect(&url, &agent_token).await;
    ag.send(json!({"type": "status", "state": "available"}))
        .await;
    // Bidi isolates, an Arabic letter mark, a tag character, a Khmer inherent
    // vowel, a Mongolian variation selector and a Hangul filler in the name.
    let name = "\u{2067}Dana\u{061C}\u{E0041}\u{2069} \u{17B4}Card\u{180B}holder\u{3164}";
    let cardholder_token =
        token(json!({"sub": "ch", "role": "cardholder", "tier": "standard", "name": name}));
    let (mut ch, _) = Client::connect(&url, &cardholder_token).await;
    ch.send(json!({"type": "start", "topic": "billing"})).await;
    let seen = ag.expect("assigned").await;
    assert_eq!(seen["cardholder"]["name"], "Dana Cardholder", "{seen}");
    let mine = ch.expect("assigned").await;
    assert_eq!(
        mine["agent"]["name"], "Alex \u{1F469}\u{200D}\u{1F4BB}",
        "the emoji stays whole: {mine}"
    );
    for (id, text) in [
        ("k1", "\u{3164}\u{3164}\u{3164}"),
        ("k2", "\u{2800}\u{2800}"),
        ("k3", "\u{115F}\u{1160} \u{FFA0}"),
        ("k4", "\u{E0068}\u{E0069}"),
    ] {
        ch.send(json!({"type": "say", "id": id, "text": text}))
            .await;
        let e = ch.expect("error").await;
        assert_eq!(
            (e["code"].as_str(), e["ref"].as_str()),
            (Some("bad_field"), Some(id)),
            "{e}"
        );
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains("blank")),
            "{e}"
        );
    }
    none_within(&mut ag, "msg", |_| true).await;
    // A token whose name is blank once cleaned is refused at the socket.
    let blank = token(
        json!({"sub": "ch2", "role": "cardholder", "tier": "standard", "name": "\u{3164}\u{2800}"}),
    );
    assert_eq!(
        Client::connect_raw(&url, Some(&blank)).await.err(),
        Some(401)
    );
}
