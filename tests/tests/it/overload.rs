//! Overload: the event path is bounded (unread events wait in Redis, whose
//! output-buffer limit cuts a subscriber that falls too far behind), the
//! delivery lag is measured, and a node that is behind refuses new work with
//! `busy` and reports not ready until it caught up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::domain::now_millis;
use switchboard::domain::Author;
use switchboard::events::{Envelope, Event};
use switchboard::store::feed::EventFeed;
use switchboard::store::redis::{framed, RedisStore};
use switchboard_tests::*;

/// An event as the hub publishes it (a `typing` nobody on the node hears),
/// stamped `age_ms` in the past: a node that delivers it measures that lag.
fn stale_event(age_ms: i64) -> String {
    typing("c-stale", now_millis() - age_ms)
}

/// A `typing` for nobody, framed as the hub publishes it.
fn typing(conversation: &str, at: i64) -> String {
    framed(&Envelope {
        to: Vec::new(),
        at,
        event: Event::Typing {
            conversation: conversation.into(),
            from: Author::Agent,
            on: true,
        },
    })
    .expect("framed")
}

async fn readyz(hub: &TestHub) -> (u16, Value) {
    let (status, body) = http_get(&hub.http_url("/readyz")).await;
    (status, serde_json::from_str(&body).expect("readyz JSON"))
}

/// Publishes 5-second-old events on the node's channel every 20 ms until
/// dropped, so its delivery lag stays high while the test looks.
struct LagInjector {
    stop: Arc<AtomicBool>,
}

impl LagInjector {
    async fn start(url: &str, channel: String) -> LagInjector {
        let stop = Arc::new(AtomicBool::new(false));
        let mut conn = redis_conn(url).await;
        let running = stop.clone();
        tokio::spawn(async move {
            while !running.load(Ordering::Relaxed) {
                let _: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(stale_event(5_000))
                    .query_async(&mut conn)
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        LagInjector { stop }
    }
}

impl Drop for LagInjector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_node_behind_refuses_new_work_with_busy_and_is_not_ready_until_it_caught_up() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let _agent = available_agent(&hub.ws_url(), "ov-a", &["standard", "premium"], 5).await;
    let (mut chatting, _) = Client::connect(&hub.ws_url(), &cardholder("ov-1", "standard")).await;
    chatting
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    chatting.expect("assigned").await;
    assert_eq!(readyz(&hub).await.0, 200);

    let injector = LagInjector::start(&redis.url(), format!("{prefix}:events")).await;
    eventually("/readyz reports the node behind", || async {
        let (status, body) = readyz(&hub).await;
        status == 503 && body["status"] == "behind"
    })
    .await;
    let (_, body) = readyz(&hub).await;
    assert!(
        body["reason"].as_str().unwrap_or("").contains("behind"),
        "{body}"
    );
    assert!(metric(&hub, "switchboard_event_lag_current_seconds", &[]).await >= 2.0);

    // A message is refused (nothing stored), and so is a new chat.
    chatting
        .send(json!({"type": "say", "id": "m-1", "text": "hello?"}))
        .await;
    let refused = chatting.expect("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["ref"].as_str()),
        (Some("busy"), Some("m-1"))
    );
    let (mut newcomer, _) = Client::connect(&hub.ws_url(), &cardholder("ov-2", "premium")).await;
    newcomer
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(newcomer.expect("error").await["code"], "busy");
    // Reading the transcript still works while behind.
    chatting.send(json!({"type": "sync", "after": 0})).await;
    let page = chatting.expect("transcript").await;
    assert!(
        page["entries"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["id"] != "m-1")),
        "a refused message is not stored: {page}"
    );
    assert!(metric(&hub, "switchboard_busy_refusals_total", &[("frame", "say")]).await >= 1.0);
    assert!(
        metric(
            &hub,
            "switchboard_busy_refusals_total",
            &[("frame", "start")]
        )
        .await
            >= 1.0
    );

    drop(injector);
    eventually("ready again once caught up", || async {
        readyz(&hub).await.0 == 200
    })
    .await;
    assert_eq!(
        metric(&hub, "switchboard_event_lag_current_seconds", &[]).await,
        0.0
    );
    // The same message, sent again, is taken now.
    chatting
        .send(json!({"type": "say", "id": "m-1", "text": "hello?"}))
        .await;
    let echo = chatting.expect("msg").await;
    assert_eq!(echo["id"], "m-1");
    newcomer
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    newcomer.expect("assigned").await;
}

/// Publishes `payload` on `channel` `n` times, in one round trip.
async fn publish_many(
    conn: &mut redis::aio::MultiplexedConnection,
    channel: &str,
    payload: &str,
    n: usize,
) {
    let mut pipe = redis::pipe();
    for _ in 0..n {
        pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
    }
    pipe.query_async::<()>(conn).await.expect("published");
}

#[tokio::test]
async fn unread_events_wait_in_redis_whose_limit_cuts_the_subscription() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let store = RedisStore::connect(&redis.url(), &prefix, "n1", 60_000)
        .await
        .expect("store");
    let mut events = store.subscribe().await.expect("subscribed");
    let mut conn = redis_conn(&redis.url()).await;
    // 16 MB of events published while the subscriber reads nothing.
    let payload = typing(&"c-x".repeat(2000), now_millis());
    let channel = format!("{prefix}:events");
    publish_many(&mut conn, &channel, &payload, 2_500).await;
    // What the node has not read is held by Redis, for this client.
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .expect("CLIENT LIST");
    let held: u64 = list
        .split_whitespace()
        .find_map(|f| f.strip_prefix("tot-mem=").or(f.strip_prefix("omem=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        held > 4 << 20,
        "Redis holds the unread events for the subscriber: {list}"
    );
    // Past Redis's pub/sub output limit, Redis cuts the subscriber; the
    // stream then ends (the bus resubscribes and asks clients to resync).
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 1mb 512kb 1")
        .query_async::<()>(&mut conn)
        .await
        .expect("CONFIG SET");
    // Redis checks the limit when a client's output needs a new block: a
    // few more events, published before the node reads anything, do that.
    publish_many(&mut conn, &channel, &payload, 10).await;
    let read = tokio::time::timeout(EVENT_TIMEOUT, async {
        let mut n = 0usize;
        while events.next().await.is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("the cut subscription ends");
    assert!(read < 2_510, "events were dropped by the cut: read {read}");
}

#[tokio::test]
async fn a_cut_subscription_asks_every_connection_to_resync() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("cut-1", "standard")).await;
    let mut conn = redis_conn(&redis.url()).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "the node's one subscription");
    assert_eq!(ch.expect_close().await, Closed::Code(1012));
    let (mut back, _) = Client::connect(&hub.ws_url(), &cardholder("cut-1", "standard")).await;
    back.send(json!({"type": "start", "topic": "general"}))
        .await;
    back.expect("queued").await;
}

#[tokio::test]
async fn past_the_admission_limit_a_new_start_is_refused_at_once_and_slow_work_lowers_the_limit() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    // The limit starts here and only moves as admitted work finishes.
    let permits = switchboard::admission::INITIAL_LIMIT;
    let mut clients = Vec::new();
    for i in 0..=permits {
        let (c, _) =
            Client::connect(&hub.ws_url(), &cardholder(&format!("wf-{i}"), "standard")).await;
        clients.push(c);
    }
    // Redis holds every script for 2 s (under the hub's 3 s wait): each
    // `start` keeps its ticket meanwhile, and one more than the limit is
    // one too many.
    pause_redis(&redis.url(), 2_000).await;
    for c in &mut clients {
        c.send(json!({"type": "start", "topic": "general"})).await;
    }
    let mut refused = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        let answer = loop {
            let f = tokio::time::timeout(EVENT_TIMEOUT, c.next_frame())
                .await
                .expect("an answer to start")
                .expect("open");
            if matches!(f["type"].as_str(), Some("queued" | "error")) {
                break f;
            }
        };
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "busy", "{answer}");
            refused.push(i);
        }
    }
    assert_eq!(
        refused.len(),
        1,
        "exactly one start past {permits} in flight"
    );
    assert_eq!(
        metric(
            &hub,
            "switchboard_busy_refusals_total",
            &[("frame", "start")]
        )
        .await,
        1.0
    );
    // Work that took 2 s, far past the target (a twentieth of the 2 s
    // --max-event-lag), cut the limit.
    let limit = metric(&hub, "switchboard_admission_limit", &[]).await;
    assert!(
        limit < permits as f64,
        "the limit fell below {permits}: {limit}"
    );
    // Nothing was started for it; asked again, it is.
    let again = &mut clients[refused[0]];
    again
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    again.expect("queued").await;
}
