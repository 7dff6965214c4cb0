//! Notifications to the issuer's push service (`--notify-url`): signed,
//! exact payload, only for absent cardholders, delivered once after
//! failures, and nothing lost when the hub dies mid-backoff.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::notify::{NotifySettings, RetryPolicy};
use switchboard::settings::Settings;
use switchboard_tests::push::{unix_now, PushReceiver, Unverified, PUSH_SECRET, TOLERANCE_S};
use switchboard_tests::*;

/// `settings` notifying `receiver`, with quick polls and retries of at most
/// `cap`, given up after an hour.
fn notifying(settings: Settings, receiver: &PushReceiver, cap: Duration) -> Settings {
    giving_up(settings, receiver, cap, Duration::from_secs(3600))
}

/// [`notifying`], given up after `give_up_after`.
fn giving_up(
    mut settings: Settings,
    receiver: &PushReceiver,
    cap: Duration,
    give_up_after: Duration,
) -> Settings {
    let mut n = NotifySettings::new(&receiver.url(), PUSH_SECRET).expect("notify settings");
    n.poll = Duration::from_millis(20);
    n.timeout = Duration::from_secs(2);
    n.retry = RetryPolicy {
        first: cap,
        max: cap,
        give_up_after,
    };
    settings.notify = Some(n);
    settings
}

/// A chat between `ch` and agent `ag` whose cardholder then left (the
/// agent heard `away`); returns the cardholder's sub, the conversation and
/// the agent's connection.
async fn chat_left_by_cardholder(url: &str, ch: &str) -> (String, Client) {
    let (mut c, _) = Client::connect(url, &cardholder(ch, "standard")).await;
    let mut ag = available_agent(url, &format!("ag-{ch}"), &["standard"], 2).await;
    let id = paired(&mut c, &mut ag, "billing").await;
    // Connected: the agent's words reach the socket, no notification.
    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Are you there?"}))
        .await;
    c.expect_msg(1).await;
    c.drop_connection();
    ag.expect_where("presence", |f| f["cardholder"] == "away")
        .await;
    (id, ag)
}

/// Notifications in the Redis queue.
async fn queued(redis: &RedisServer, prefix: &str) -> u64 {
    let mut conn = redis_conn(&redis.url()).await;
    redis::cmd("ZCARD")
        .arg(format!("{prefix}:notify"))
        .query_async(&mut conn)
        .await
        .expect("zcard")
}

async fn agent_writes(ag: &mut Client, id: &str, key: &str) {
    ag.say_confirmed(
        json!({"type": "say", "conversation": id, "id": key, "text": "Your card is on its way"}),
    )
    .await;
}

async fn signed_notification_for_an_absent_cardholder(
    settings: Settings,
    receiver: &mut PushReceiver,
) {
    let hub = TestHub::spawn(settings).await;
    let (id, mut ag) = chat_left_by_cardholder(&hub.ws_url(), "ch-away").await;
    agent_writes(&mut ag, &id, "a2").await;
    let pushed = receiver.next().await;
    assert!(
        pushed.signed_with(PUSH_SECRET),
        "signature {:?}",
        pushed.signature
    );
    assert!(!pushed.signed_with("another-secret-0123456789"));
    assert_eq!(
        pushed.legacy_signature, None,
        "the body-only signature is gone"
    );
    let body = pushed.json();
    assert_eq!(
        Value::from(pushed.id.as_str()),
        body["id"],
        "webhook-id is the event id"
    );
    let fields: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["at", "conversation", "event", "id", "sub"],
        "{body}"
    );
    assert_eq!(
        (&body["event"], &body["sub"], &body["conversation"]),
        (
            &json!("message"),
            &json!("ch-away"),
            &Value::from(id.as_str())
        )
    );
    assert!(body["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        body["at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.contains('T')),
        "RFC 3339: {body}"
    );
    assert!(
        !String::from_utf8_lossy(&pushed.body).contains("on its way"),
        "never the text"
    );
    eventually("the delivery recorded", || async {
        metric(&hub, "switchboard_notifications_delivered_total", &[]).await == 1.0
    })
    .await;
    assert_eq!(
        metric(&hub, "switchboard_notifications_queued_total", &[]).await,
        1.0,
        "the words said while the cardholder was connected queued nothing"
    );
    assert!(receiver.unread().is_empty());
}

#[tokio::test]
async fn redis_an_absent_cardholder_is_notified_signed_and_without_text() {
    let redis = RedisServer::start();
    let mut receiver = PushReceiver::start(0).await;
    let settings = redis_settings(&redis.url(), &unique_prefix());
    let settings = notifying(settings, &receiver, Duration::from_millis(50));
    signed_notification_for_an_absent_cardholder(settings, &mut receiver).await;
}

#[tokio::test]
async fn memory_an_absent_cardholder_is_notified_signed_and_without_text() {
    let mut receiver = PushReceiver::start(0).await;
    let settings = notifying(memory_settings(), &receiver, Duration::from_millis(50));
    signed_notification_for_an_absent_cardholder(settings, &mut receiver).await;
}

#[tokio::test]
async fn a_failing_push_service_gets_the_notification_once_after_retries() {
    let redis = RedisServer::start();
    let mut receiver = PushReceiver::start(2).await;
    let prefix = unique_prefix();
    let settings = redis_settings(&redis.url(), &prefix);
    let hub = TestHub::spawn(notifying(settings, &receiver, Duration::from_millis(50))).await;
    let (id, mut ag) = chat_left_by_cardholder(&hub.ws_url(), "ch-retry").await;
    agent_writes(&mut ag, &id, "a2").await;
    let attempts = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ];
    assert_eq!(
        attempts.iter().map(|p| p.status).collect::<Vec<_>>(),
        [500, 500, 204]
    );
    assert!(
        attempts.iter().all(|p| p.body == attempts[0].body),
        "every attempt is the same event"
    );
    assert!(
        attempts
            .iter()
            .all(|p| p.id == attempts[0].id && p.signed_with(PUSH_SECRET)),
        "every attempt carries the event's webhook-id and is signed for its own timestamp"
    );
    eventually("the delivery recorded", || async {
        metric(&hub, "switchboard_notifications_delivered_total", &[]).await == 1.0
    })
    .await;
    assert_eq!(queued(&redis, &prefix).await, 0, "nothing left to send");
    assert_eq!(
        metric(&hub, "switchboard_notification_failed_attempts_total", &[]).await,
        2.0
    );
    assert!(receiver.unread().is_empty(), "delivered once, never again");
}

#[tokio::test]
async fn a_hub_that_dies_mid_backoff_loses_no_notification() {
    let redis = RedisServer::start();
    // Every attempt fails until the first hub is dead: with full jitter its
    // retry may come before the kill, and must not deliver.
    let mut receiver = PushReceiver::start(usize::MAX).await;
    let prefix = unique_prefix();
    // A long backoff, so that the first hub dies while the retry waits.
    let cap = Duration::from_secs(2);
    let mut first = TestHub::spawn_killable(notifying(
        redis_settings(&redis.url(), &prefix),
        &receiver,
        cap,
    ))
    .await;
    let (id, mut ag) = chat_left_by_cardholder(&first.ws_url(), "ch-crash").await;
    agent_writes(&mut ag, &id, "a2").await;
    let refused = receiver.next().await;
    assert_eq!(refused.status, 500);
    eventually("the failed attempt recorded", || async {
        metric(
            &first,
            "switchboard_notification_failed_attempts_total",
            &[],
        )
        .await
            >= 1.0
    })
    .await;
    first.kill();
    let second = TestHub::spawn(notifying(
        redis_settings(&redis.url(), &prefix),
        &receiver,
        cap,
    ))
    .await;
    receiver.accept();
    // Attempts refused before `accept` (the first hub's last, the second's
    // first) are the same event, refused.
    let mut delivered = receiver.next().await;
    while delivered.status == 500 {
        assert_eq!(delivered.body, refused.body, "the same event");
        delivered = receiver.next().await;
    }
    assert_eq!(delivered.status, 204);
    assert_eq!(
        delivered.body, refused.body,
        "the same event, by the new hub"
    );
    eventually("the delivery recorded by the new hub", || async {
        metric(&second, "switchboard_notifications_delivered_total", &[]).await == 1.0
    })
    .await;
    assert_eq!(queued(&redis, &prefix).await, 0, "nothing left to send");
    assert!(receiver.unread().is_empty(), "delivered once");
}

#[tokio::test]
async fn a_notification_failing_past_the_give_up_time_is_dropped_and_counted() {
    let redis = RedisServer::start();
    let mut receiver = PushReceiver::start(usize::MAX).await;
    let prefix = unique_prefix();
    let settings = giving_up(
        redis_settings(&redis.url(), &prefix),
        &receiver,
        Duration::from_millis(20),
        Duration::from_millis(300),
    );
    let hub = TestHub::spawn(settings).await;
    let (id, mut ag) = chat_left_by_cardholder(&hub.ws_url(), "ch-gone").await;
    agent_writes(&mut ag, &id, "a2").await;
    assert_eq!(receiver.next().await.status, 500);
    eventually("the notification given up", || async {
        metric(&hub, "switchboard_notifications_given_up_total", &[]).await == 1.0
    })
    .await;
    assert_eq!(queued(&redis, &prefix).await, 0, "dropped from the queue");
    assert_eq!(
        metric(&hub, "switchboard_notifications_delivered_total", &[]).await,
        0.0
    );
}

/// The first notification of a hub notifying with `secret`, after an agent
/// wrote to a cardholder who left.
async fn first_notification(secret: &str) -> switchboard_tests::push::Pushed {
    let mut receiver = PushReceiver::start(0).await;
    let mut settings = notifying(memory_settings(), &receiver, Duration::from_millis(50));
    let mut n = NotifySettings::new(&receiver.url(), secret).expect("notify settings");
    n.poll = Duration::from_millis(20);
    settings.notify = Some(n);
    let hub = TestHub::spawn(settings).await;
    let (id, mut ag) = chat_left_by_cardholder(&hub.ws_url(), "ch-webhook").await;
    agent_writes(&mut ag, &id, "a2").await;
    receiver.next().await
}

#[tokio::test]
async fn the_signature_verifies_the_standard_webhooks_way_and_replays_or_changes_fail() {
    let pushed = first_notification(PUSH_SECRET).await;
    let now = unix_now();
    assert_eq!(pushed.verify_at(PUSH_SECRET, now), Ok(()), "{pushed:?}");
    let at: i64 = pushed.timestamp.parse().expect("Unix seconds");
    assert!((now - at).abs() <= 5, "the attempt's time: {at} vs {now}");
    assert!(pushed.signature.starts_with("v1,"), "{}", pushed.signature);
    // Replayed more than five minutes later: refused, although signed.
    assert_eq!(
        pushed.verify_at(PUSH_SECRET, at + TOLERANCE_S + 1),
        Err(Unverified::OutsideTolerance)
    );
    assert_eq!(pushed.verify_at(PUSH_SECRET, at + TOLERANCE_S), Ok(()));
    // Any change to what is signed breaks the signature.
    let mut body = pushed.clone();
    body.body = String::from_utf8_lossy(&pushed.body)
        .replace("ch-webhook", "ch-victim")
        .into_bytes()
        .into();
    assert_ne!(body.body, pushed.body);
    assert_eq!(
        body.verify_at(PUSH_SECRET, now),
        Err(Unverified::BadSignature)
    );
    let mut id = pushed.clone();
    id.id.push('x');
    assert_eq!(
        id.verify_at(PUSH_SECRET, now),
        Err(Unverified::BadSignature)
    );
    // A replay with a fresh timestamp (the attacker cannot re-sign).
    let mut timestamp = pushed.clone();
    timestamp.timestamp = (at + 1).to_string();
    assert_eq!(
        timestamp.verify_at(PUSH_SECRET, now),
        Err(Unverified::BadSignature)
    );
    let mut gone = pushed.clone();
    gone.timestamp.clear();
    assert_eq!(
        gone.verify_at(PUSH_SECRET, now),
        Err(Unverified::Missing("webhook-timestamp"))
    );
    assert_eq!(
        pushed.verify_at("another-secret-0123456789", now),
        Err(Unverified::BadSignature)
    );
}

#[tokio::test]
async fn a_whsec_secret_is_the_base64_key_it_encodes() {
    // Standard Webhooks' form: `whsec_` and the key in base64 (here 32 bytes).
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
    let pushed = first_notification(secret).await;
    assert_eq!(pushed.verify_at(secret, unix_now()), Ok(()), "{pushed:?}");
    // The key is what the base64 encodes, not the secret's text.
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{}.{}.", pushed.id, pushed.timestamp).as_bytes());
    mac.update(&pushed.body);
    let of_text = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_ne!(pushed.signature, format!("v1,{of_text}"));
}
