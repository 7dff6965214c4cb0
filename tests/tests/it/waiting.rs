//! What a waiting cardholder is told besides the place (`queued`): agents
//! of the team signed in, opening hours (`--hours`), the next opening, and
//! the secure-message offer (`--offer-message-after`), sent again when any
//! of it changes.

use std::time::Duration;

use jiff::{Timestamp, ToSpan};
use serde_json::{json, Value};
use switchboard::hours::Hours;
use switchboard::settings::Settings;
use switchboard_tests::*;

/// Hours for the standard team: open all day every day, except today and
/// tomorrow (UTC), so it is closed now and opens at midnight the day after
/// tomorrow whatever the time the test runs.
fn closed_until_the_day_after_tomorrow() -> (Hours, String) {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let tomorrow = today.checked_add(1.day()).expect("a date");
    let reopens = today.checked_add(2.days()).expect("a date");
    let all_day = json!([["00:00", "24:00"]]);
    let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), all_day.clone()))
        .collect();
    let file = json!({"standard": {"zone": "UTC", "weekly": weekly,
        "holidays": [today.to_string(), tomorrow.to_string()]}});
    let hours = Hours::parse(&file.to_string()).expect("valid hours");
    (hours, format!("{reopens}T00:00:00Z"))
}

/// A cardholder of `tier` starts a chat; its first `queued` says
/// `[agents_online, open, next_open, offer_message]`.
async fn waiting(url: &str, sub: &str, tier: &str, told: Value) -> Client {
    let (mut ch, _) = Client::connect(url, &cardholder(sub, tier)).await;
    ch.send(json!({"type": "start", "topic": "billing"})).await;
    let q = ch.expect("queued").await;
    let said = json!([
        q["agents_online"],
        q["open"],
        q["next_open"],
        q["offer_message"]
    ]);
    assert_eq!(said, told, "{q}");
    ch
}

async fn closed_team_says_when_it_opens(mut settings: Settings) {
    let (hours, reopens) = closed_until_the_day_after_tomorrow();
    settings.hours = std::sync::Arc::new(hours);
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut ch = waiting(
        &url,
        "ch-late",
        "standard",
        json!([0, false, reopens, true]),
    )
    .await;
    // An agent of the team signs in (away, so the chat keeps waiting): the
    // cardholder hears it.
    let (_agent, _) = Client::connect(&url, &agent("ag-late", &["standard"], 2)).await;
    let q = ch.expect_where("queued", |f| f["agents_online"] == 1).await;
    assert_eq!(
        (&q["open"], &q["offer_message"]),
        (&json!(false), &json!(true))
    );
}

#[tokio::test]
async fn memory_a_closed_team_says_when_it_opens_and_who_is_signed_in() {
    closed_team_says_when_it_opens(memory_settings()).await;
}

#[tokio::test]
async fn redis_a_closed_team_says_when_it_opens_and_who_is_signed_in() {
    let redis = RedisServer::start();
    closed_team_says_when_it_opens(redis_settings(&redis.url(), &unique_prefix())).await;
}

#[tokio::test]
async fn a_long_wait_is_offered_a_secure_message() {
    let redis = RedisServer::start();
    let mut settings = redis_settings(&redis.url(), &unique_prefix());
    settings.offer_message_after = Duration::from_millis(300);
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (_agent, _) = Client::connect(&url, &agent("ag-busy", &["premium"], 2)).await;
    let mut ch = waiting(&url, "ch-wait", "premium", json!([1, true, null, false])).await;
    let q = ch
        .expect_where("queued", |f| f["offer_message"] == true)
        .await;
    assert_eq!((&q["position"], &q["open"]), (&json!(1), &json!(true)));
}
