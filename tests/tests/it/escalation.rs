//! Identity-related lockouts become callback requests; desks work them.

use serde_json::{json, Value};
use switchboard_tests::*;

fn desk_agent(sub: &str, desk: &str) -> String {
    agent(sub, &["standard", desk], 2)
}

async fn escalate_by_topic(url: &str, sub: &str, tier: &str, topic: &str) -> (Client, Value) {
    let (mut ch, _) = Client::connect(url, &cardholder(sub, tier)).await;
    ch.send(json!({"type": "start", "topic": topic})).await;
    let escalated = ch.expect("escalated").await;
    (ch, escalated)
}

#[tokio::test]
async fn lockout_topics_become_callbacks_not_chats() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut ch, escalated) = escalate_by_topic(&url, "lock-1", "premium", "locked_account").await;
    let cb = &escalated["callback"];
    assert_eq!(
        (cb["desk"].as_str(), cb["status"].as_str()),
        (Some("identity"), Some("requested"))
    );
    assert_eq!(cb["phone_last4"], "4321");
    let reference = cb["ref"].as_str().expect("ref").to_owned();
    let m = ch.expect_where("msg", |f| f["from"] == "system").await;
    assert!(
        m["text"].as_str().unwrap_or("").contains("ending 4321"),
        "{m}"
    );
    assert_eq!(ch.expect("ended").await["reason"], "escalated");
    // No chat queue is entered.
    ch.expect_none("queued", QUIET_PERIOD).await;

    let (_f, fraud) = escalate_by_topic(&url, "lock-2", "standard", "fraud_restriction").await;
    assert_eq!(fraud["callback"]["desk"], "fraud");

    // Asking again returns the same open request; it shows in welcome.
    let (_again, again) = escalate_by_topic(&url, "lock-1", "premium", "locked_account").await;
    assert_eq!(again["callback"]["ref"], reference.as_str());
    let (_w, welcome) = Client::connect(&url, &cardholder("lock-1", "premium")).await;
    assert_eq!(welcome["callbacks"][0]["ref"], reference.as_str());
}

#[tokio::test]
async fn first_message_classifier_escalates_but_not_look_alikes() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("cls-1", "standard")).await;
    ch.send(
        json!({"type": "start", "topic": "general", "text": "Hi, I'm locked out of my account"}),
    )
    .await;
    assert_eq!(ch.expect("escalated").await["callback"]["desk"], "identity");
    let (mut other, _) = Client::connect(&url, &cardholder("cls-2", "standard")).await;
    other
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    other.expect("queued").await;
    other
        .send(json!({"type": "say", "id": "1", "text": "How do I lock my card in the app?"}))
        .await;
    other.expect_msg(1).await;
    other
        .send(json!({"type": "say", "id": "2", "text": "my account is locked"}))
        .await;
    other.expect_msg(2).await;
    // Only the first message is classified.
    other.expect_none("escalated", QUIET_PERIOD).await;
}

#[tokio::test]
async fn desks_list_premium_first_and_exactly_one_claim_wins() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.rate_per_sec = 1000.0;
    let a = TestHub::spawn(settings.clone()).await;
    settings.node_id = "node-b".into();
    let b = TestHub::spawn(settings).await;
    let (mut d1, _) = Client::connect(&a.ws_url(), &desk_agent("desk-1", "identity")).await;
    let (mut d2, _) = Client::connect(&b.ws_url(), &desk_agent("desk-2", "identity")).await;
    let mut refs = Vec::new();
    for i in 0..50 {
        let tier = if i == 49 { "premium" } else { "standard" };
        let (_c, e) =
            escalate_by_topic(&a.ws_url(), &format!("cb-{i}"), tier, "locked_account").await;
        refs.push(e["callback"]["ref"].as_str().expect("ref").to_owned());
    }
    d1.send(json!({"type": "callbacks", "desk": "identity"}))
        .await;
    let list = d1.expect("callbacks").await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0]["ref"], refs[49].as_str(), "premium first");
    assert_eq!(items[1]["ref"], refs[0].as_str(), "then oldest first");
    d2.send(json!({"type": "callbacks", "desk": "fraud"})).await;
    assert_eq!(
        d2.expect("error").await["code"],
        "not_allowed",
        "only the desk's own agents"
    );

    // Both desk agents, on different nodes, claim every request at once.
    let mut wins = std::collections::HashMap::new();
    for r in &refs {
        d1.send(json!({"type": "claim_callback", "ref": r})).await;
        d2.send(json!({"type": "claim_callback", "ref": r})).await;
        let claimed =
            |f: &Value| f["request"]["ref"] == r.as_str() && f["request"]["status"] == "claimed";
        let ev = d1.expect_where("callback", claimed).await;
        d2.expect_where("callback", claimed).await;
        let winner = ev["request"]["claimed_by"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let loser = if winner == "desk-1" { &mut d2 } else { &mut d1 };
        let e = loser.expect("error").await;
        assert_eq!(e["code"], "not_allowed", "the other claimer is refused");
        *wins.entry(winner).or_insert(0usize) += 1;
    }
    assert_eq!(
        wins.values().sum::<usize>(),
        refs.len(),
        "every request claimed exactly once: {wins:?}"
    );
    // One refusal per request: no further error for either claimer.
    tokio::join!(
        d1.expect_none("error", QUIET_PERIOD),
        d2.expect_none("error", QUIET_PERIOD)
    );
}

#[tokio::test]
async fn no_answer_returns_to_the_list_then_fails_and_requests_survive_restart() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let (_c, e) = escalate_by_topic(&hub.ws_url(), "na-1", "business", "fraud_restriction").await;
    let r = e["callback"]["ref"].as_str().expect("ref").to_owned();
    hub.shutdown().await;
    let hub = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let (mut d, _) = Client::connect(&hub.ws_url(), &desk_agent("fd", "fraud")).await;
    d.send(json!({"type": "callbacks", "desk": "fraud"})).await;
    assert_eq!(
        d.expect("callbacks").await["items"][0]["ref"],
        r.as_str(),
        "survives a hub restart"
    );
    for attempt in 1..=3u64 {
        d.send(json!({"type": "claim_callback", "ref": r})).await;
        d.expect_where("callback", |f| f["request"]["status"] == "claimed")
            .await;
        d.send(json!({"type": "complete_callback", "ref": r, "outcome": "no_answer"}))
            .await;
        let want = if attempt == 3 { "failed" } else { "no_answer" };
        let ev = d
            .expect_where("callback", |f| f["request"]["status"] == want)
            .await;
        assert_eq!(ev["request"]["attempts"], attempt);
        assert_eq!(
            ev["request"]["history"].as_array().map(Vec::len),
            Some(attempt as usize)
        );
    }
    d.send(json!({"type": "callbacks", "desk": "fraud"})).await;
    assert_eq!(
        d.expect("callbacks").await["items"],
        json!([]),
        "failed requests leave the list"
    );
}

#[tokio::test]
async fn agent_escalates_and_card_numbers_never_reach_redis_unmasked() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("esc-ag", "standard")).await;
    let mut ag = available_agent(&url, "ag-esc", &["standard"], 1).await;
    ch.send(json!({"type": "start", "topic": "two_factor", "text": "My SSN is 123-45-6789 and card 4111-1111-1111-1111"})).await;
    let assigned = ag.expect("assigned").await;
    let id = assigned["conversation"].as_str().expect("id").to_owned();
    let text = assigned["transcript"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        !text.contains("6789") && !text.contains("4111-1111"),
        "{text}"
    );
    ag.send(json!({"type": "escalate", "conversation": id, "desk": "identity", "note": "2FA phone lost"})).await;
    let escalated = ch.expect("escalated").await;
    assert_eq!(escalated["callback"]["desk"], "identity");
    assert_eq!(
        escalated["callback"].get("reason"),
        None,
        "the agent's note is for the desk, never shown to the cardholder: {escalated}"
    );
    assert_eq!(ag.expect("ended").await["reason"], "escalated");
    let dump = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&dump.stdout).to_string();
    let mut all = String::new();
    for key in keys.lines() {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "--no-raw", "DUMP", key])
            .output()
            .expect("redis-cli");
        all.push_str(&String::from_utf8_lossy(&out.stdout));
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "LRANGE", key, "0", "-1"])
            .output()
            .expect("redis-cli");
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert!(all.contains("1111"), "the transcript is there");
    assert!(
        !all.contains("4111-1111-1111-1111") && !all.contains("123-45-6789"),
        "nothing unmasked in Redis"
    );
}

#[tokio::test]
async fn the_desk_sees_who_and_why_reads_the_chat_and_logs_each_call() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut desk, _) = Client::connect(&url, &desk_agent("dk-id", "identity")).await;
    let (mut other_desk, _) = Client::connect(&url, &desk_agent("dk-fr", "fraud")).await;
    let (mut ch, escalated) = escalate_by_topic(&url, "dk-ch", "standard", "locked_account").await;
    let cb = &escalated["callback"];
    // The cardholder's view: worded by the concern, no staff reason.
    assert_eq!(cb["cause"], json!({"kind": "topic", "concern": "locked"}));
    assert_eq!(cb.get("reason"), None);
    let reference = cb["ref"].as_str().expect("ref").to_owned();
    let conversation = escalated["conversation"].as_str().expect("id").to_owned();
    ch.expect("ended").await;

    let row = desk
        .expect_where("callback", |f| f["request"]["ref"] == reference.as_str())
        .await;
    let r = &row["request"];
    assert_eq!(r["name"], "Cardholder dk-ch");
    assert_eq!(r["phone_last4"], "4321");
    assert_eq!(r["reason"], "Locked account (chosen topic)");
    assert_eq!(
        r["cause"],
        json!({"kind": "topic", "concern": "locked", "topic": "locked_account"})
    );

    // The chat it came from: for the desk of an open request only.
    desk.send(json!({"type": "transcript", "conversation": conversation}))
        .await;
    let page = desk.expect("transcript").await;
    assert!(page["entries"][0]["text"]
        .as_str()
        .unwrap_or("")
        .contains("verify it's you"));
    other_desk
        .send(json!({"type": "transcript", "conversation": conversation}))
        .await;
    assert_eq!(other_desk.expect("error").await["code"], "not_allowed");

    // Each call with its note; the closed request is in the agent's `done`.
    desk.send(json!({"type": "claim_callback", "ref": reference}))
        .await;
    desk.expect_where("callback", |f| f["request"]["status"] == "claimed")
        .await;
    desk.send(json!({"type": "complete_callback", "ref": reference,
                     "outcome": "reached", "note": "Verified; unlocked"}))
        .await;
    let closed = desk
        .expect_where("callback", |f| f["request"]["status"] == "reached")
        .await;
    assert_eq!(closed["request"]["calls"][0]["note"], "Verified; unlocked");
    assert_eq!(closed["request"]["calls"][0]["by"], "dk-id");
    desk.send(json!({"type": "callbacks", "desk": "identity"}))
        .await;
    let list = desk.expect("callbacks").await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(list["done"][0]["ref"], reference.as_str());
    // Closed, its chat is no longer the desk's to read.
    desk.send(json!({"type": "transcript", "conversation": conversation}))
        .await;
    assert_eq!(desk.expect("error").await["code"], "not_allowed");
}

/// A waiting cardholder asks for a call back instead (`call_me_back`): only
/// for topics a desk handles, only while the chat waits.
async fn call_me_back_while_waiting(hub: &TestHub) {
    let url = hub.ws_url();
    let (mut desk, _) = Client::connect(&url, &desk_agent("cmb-desk", "identity")).await;
    desk.send(json!({"type": "callbacks", "desk": "identity"}))
        .await;
    desk.expect("callbacks").await;
    let (mut ch, _) = Client::connect(&url, &cardholder("cmb-1", "standard")).await;
    ch.send(json!({"type": "start", "topic": "forgot_login"}))
        .await;
    ch.expect("queued").await;
    ch.send(json!({"type": "call_me_back"})).await;
    let escalated = ch.expect("escalated").await;
    let cb = &escalated["callback"];
    assert_eq!(cb["desk"], "identity", "{escalated}");
    assert_eq!(cb["cause"]["concern"], "identity", "{escalated}");
    assert!(
        cb["cause"].get("topic").is_none(),
        "staff detail: {escalated}"
    );
    assert_eq!(ch.expect("ended").await["reason"], "escalated");
    let seen = desk
        .expect_where("callback", |f| f["request"]["ref"] == cb["ref"])
        .await;
    assert_eq!(seen["request"]["cause"]["kind"], "asked", "{seen}");
    assert_eq!(seen["request"]["cause"]["topic"], "forgot_login", "{seen}");
    assert!(
        seen["request"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("Asked for a call back while waiting"),
        "{seen}"
    );

    // A billing question stays in chat.
    let (mut other, _) = Client::connect(&url, &cardholder("cmb-2", "standard")).await;
    other
        .send(json!({"type": "start", "topic": "billing"}))
        .await;
    other.expect("queued").await;
    other.send(json!({"type": "call_me_back"})).await;
    assert_eq!(other.expect("error").await["code"], "not_allowed");
    other.expect_none("escalated", QUIET_PERIOD).await;
    // And nothing waits any more once served.
    let (mut none, _) = Client::connect(&url, &cardholder("cmb-3", "standard")).await;
    none.send(json!({"type": "call_me_back"})).await;
    assert_eq!(none.expect("error").await["code"], "no_conversation");
}

/// What a cardholder's `welcome` lists in `call_back_topics` is exactly what
/// `call_me_back` takes: every topic that waits in a chat queue, tried.
#[tokio::test]
async fn welcome_lists_the_topics_a_call_back_is_taken_for() {
    use switchboard::classifier::desk_for_topic;
    use switchboard::domain::Topic;
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let (_, welcome) = Client::connect(&url, &cardholder("cbt-0", "standard")).await;
    let listed: Vec<&str> = welcome["call_back_topics"]
        .as_array()
        .expect("a cardholder's welcome lists call-back topics")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(listed.contains(&"forgot_login"), "{welcome}");
    assert!(!listed.contains(&"billing"), "{welcome}");
    for (n, topic) in Topic::ALL
        .iter()
        .filter(|&&t| desk_for_topic(t).is_none())
        .enumerate()
    {
        let (mut ch, _) =
            Client::connect(&url, &cardholder(&format!("cbt-{}", n + 1), "standard")).await;
        ch.send(json!({"type": "start", "topic": topic.as_str()}))
            .await;
        ch.expect("queued").await;
        ch.send(json!({"type": "call_me_back"})).await;
        if listed.contains(&topic.as_str()) {
            ch.expect("escalated").await;
        } else {
            assert_eq!(ch.expect("error").await["code"], "not_allowed", "{topic}");
        }
    }
}

#[tokio::test]
async fn a_waiting_cardholder_can_ask_for_a_call_back_memory() {
    call_me_back_while_waiting(&TestHub::spawn(memory_settings()).await).await;
}

#[tokio::test]
async fn a_waiting_cardholder_can_ask_for_a_call_back_redis() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    call_me_back_while_waiting(&hub).await;
}
