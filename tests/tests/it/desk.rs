//! The agent desk: what an agent's pane is given to work with.

use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::canned::CannedReplies;
use switchboard_tests::*;

const CANNED: &str = r#"{
    "standard": [{"shortcut": "hello", "title": "Greeting", "text": "Hi, thanks for contacting us."}],
    "premium": [{"shortcut": "hello", "title": "Greeting", "text": "Good day, thank you for banking with us."}],
    "fraud": [{"shortcut": "verify", "title": "Verification call", "text": "Our fraud team will call you."}]
}"#;

#[tokio::test]
async fn an_agent_welcome_carries_the_canned_replies_of_its_teams_only() {
    let mut settings = memory_settings();
    settings.canned = Arc::new(CannedReplies::parse(CANNED).expect("valid canned replies"));
    let hub = TestHub::spawn(settings).await;

    let (_ag, welcome) =
        Client::connect(&hub.ws_url(), &agent("ag-desk", &["premium", "fraud"], 2)).await;
    let got: Vec<(&str, &str)> = welcome["canned"]
        .as_array()
        .expect("canned replies in the agent's welcome")
        .iter()
        .map(|r| {
            (
                r["team"].as_str().unwrap_or(""),
                r["shortcut"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got, vec![("fraud", "verify"), ("premium", "hello")]);
    assert_eq!(
        welcome["canned"][1],
        json!({"team": "premium", "shortcut": "hello", "title": "Greeting",
               "text": "Good day, thank you for banking with us."})
    );

    let (_ch, welcome) = Client::connect(&hub.ws_url(), &cardholder("ch-desk", "standard")).await;
    assert_eq!(
        welcome.get("canned"),
        None::<&Value>,
        "cardholders never see canned replies"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn the_agent_sees_whether_the_cardholder_is_there() {
    let redis = RedisServer::start();
    let mut settings = redis_settings(&redis.url(), &unique_prefix());
    settings.graces.cardholder_ms = 800;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "pr-ag", &["standard"], 2).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("pr-ch", "standard")).await;
    let id = paired(&mut ch, &mut ag, "billing").await;

    ch.drop_connection();
    let p = ag.expect("presence").await;
    assert_eq!(
        p,
        json!({"type": "presence", "conversation": id, "cardholder": "away"})
    );
    let p = ag.expect("presence").await;
    assert_eq!(
        p["cardholder"], "gone",
        "away for longer than the grace: {p}"
    );
    assert_eq!(
        ag.pending().iter().filter(|f| f["type"] == "ended").count(),
        0,
        "an active chat is not ended by the cardholder's absence"
    );
    // An agent connection that opens now learns it at once.
    let (mut again, _) = Client::connect(&url, &agent("pr-ag", &["standard"], 2)).await;
    let p = again.expect("presence").await;
    assert_eq!(
        p,
        json!({"type": "presence", "conversation": id, "cardholder": "gone"})
    );

    let (_ch, welcome) = Client::connect(&url, &cardholder("pr-ch", "standard")).await;
    assert_eq!(welcome["conversation"]["id"], id.as_str());
    let p = ag.expect("presence").await;
    assert_eq!(p["cardholder"], "online");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_cardholder_rates_an_ended_chat_once_and_it_is_counted() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "rt-ag", &["business"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("rt-ch", "business")).await;
    let id = paired(&mut ch, &mut ag, "billing").await;

    ch.send(json!({"type": "rate", "conversation": id, "score": 5}))
        .await;
    let early = ch.expect("error").await;
    assert_eq!(early["code"], "not_allowed", "not before the end: {early}");
    ag.send(json!({"type": "end", "conversation": id})).await;
    ch.expect("ended").await;

    ch.send(json!({"type": "rate", "conversation": id, "score": 9}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "bad_field");
    let (mut other, _) = Client::connect(&url, &cardholder("rt-other", "business")).await;
    other
        .send(json!({"type": "rate", "conversation": id, "score": 1}))
        .await;
    assert_eq!(other.expect("error").await["code"], "not_allowed");

    ch.send(json!({"type": "rate", "conversation": id, "score": 4,
                   "comment": "Kind. My card 4111 1111 1111 1111 works again"}))
        .await;
    let rated = ch.expect("rated").await;
    assert_eq!(
        rated,
        json!({"type": "rated", "conversation": id, "score": 4})
    );
    ch.send(json!({"type": "rate", "conversation": id, "score": 1}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "not_allowed", "once");

    assert_eq!(
        metric(
            &hub,
            "switchboard_ratings_total",
            &[("score", "4"), ("tier", "business")]
        )
        .await,
        1.0
    );
    assert_eq!(
        scrape(&hub).await.sum("switchboard_ratings_total"),
        1.0,
        "that rating only"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn notes_and_transfer_notes_reach_the_staff_only() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let mut first = available_agent(&url, "nt-a1", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("nt-ch", "standard")).await;
    let id = paired(&mut ch, &mut first, "billing").await;

    first
        .send(json!({"type": "note", "conversation": id, "text": "Verified by voice"}))
        .await;
    let note = first.expect("note").await;
    assert_eq!(note["conversation"], id.as_str());
    // A supervisor who starts monitoring now gets the notes so far after the transcript.
    let (mut sup, _) = Client::connect(
        &url,
        &token(
            json!({"sub": "nt-sup", "role": "supervisor", "teams": ["standard"], "name": "Sue"}),
        ),
    )
    .await;
    sup.send(json!({"type": "monitor", "conversation": id}))
        .await;
    sup.expect("transcript").await;
    assert_eq!(
        sup.expect("note").await["note"]["text"],
        "Verified by voice"
    );
    assert_eq!(note["note"]["text"], "Verified by voice");
    assert_eq!(note["note"]["by"], "Agent nt-a1");
    first
        .send(
            json!({"type": "transfer", "conversation": id, "tier": "premium",
                     "note": "Wants a limit raise"}),
        )
        .await;
    first.expect("ended").await;
    // The cardholder hears of the transfer, and of nothing staff-only before it.
    ch.expect_where("msg", |f| f["from"] == "system").await;
    assert!(
        ch.pending().iter().all(|f| f["type"] != "note"),
        "{:?}",
        ch.pending()
    );

    let mut next = available_agent(&url, "nt-a2", &["premium"], 1).await;
    let assigned = next
        .expect_where("assigned", |f| f["conversation"] == id.as_str())
        .await;
    assert_eq!(assigned["transfers"][0]["note"], "Wants a limit raise");
    assert_eq!(assigned["transfers"][0]["from_tier"], "standard");
    assert_eq!(assigned["transfers"][0]["to_tier"], "premium");
    assert_eq!(assigned["transfers"][0]["by"], "Agent nt-a1");
    assert_eq!(assigned["notes"][0]["text"], "Verified by voice");

    // The cardholder's own transcript holds neither.
    ch.send(json!({"type": "sync", "after": 0})).await;
    let transcript = ch.expect("transcript").await.to_string();
    assert!(
        !transcript.contains("Verified") && !transcript.contains("limit raise"),
        "{transcript}"
    );
    // A cardholder cannot write notes.
    ch.send(json!({"type": "note", "conversation": id, "text": "hi"}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "not_allowed");
    hub.shutdown().await;
}
