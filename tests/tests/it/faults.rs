//! Faults: Redis going away and coming back, graceful shutdown.

use serde_json::json;
use switchboard_tests::*;

#[tokio::test]
async fn readyz_reports_redis_down_and_recovers() {
    let mut redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    assert_eq!(http_get(&hub.http_url("/readyz")).await.0, 200);
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("f1", "standard")).await;
    redis.stop();
    let (status, body) = http_get(&hub.http_url("/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("unavailable"));
    ch.send(json!({"type": "start", "topic": "general"})).await;
    assert_eq!(ch.expect("error").await["code"], "unavailable");
    redis.restart();
    // The connection manager reconnects by itself; poll readiness (bounded).
    let mut ready = false;
    for _ in 0..50 {
        if http_get(&hub.http_url("/readyz")).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again after Redis came back");
    // Events published while the node was resubscribing are lost to it, so
    // its clients are asked to reconnect and sync.
    assert_eq!(ch.expect_close().await, Closed::Code(1012));
    let (mut back, _) = Client::connect(&hub.ws_url(), &cardholder("f1", "standard")).await;
    back.send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(back.expect("queued").await["position"], 1);
}

#[tokio::test]
async fn shutdown_sends_going_away() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("sd", "standard")).await;
    let stopping = tokio::spawn(hub.shutdown());
    assert_eq!(ch.expect_close().await, Closed::Code(1001));
    stopping.await.expect("hub stopped");
}
