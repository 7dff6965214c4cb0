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

    let (_ch, welcome) = Client::connect(&url, &cardholder("pr-ch", "standard")).await;
    assert_eq!(welcome["conversation"]["id"], id.as_str());
    let p = ag.expect("presence").await;
    assert_eq!(p["cardholder"], "online");
    hub.shutdown().await;
}
