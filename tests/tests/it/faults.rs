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
    eventually("ready again after Redis came back", async || {
        http_get(&hub.http_url("/readyz")).await.0 == 200
    })
    .await;
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

/// Settings for a node that is declared dead quickly (short heartbeat,
/// timeout and agent grace).
fn quick_nodes(url: &str, prefix: &str) -> switchboard::settings::Settings {
    let mut s = redis_settings(url, prefix);
    s.node_heartbeat = std::time::Duration::from_millis(100);
    s.node_timeout = std::time::Duration::from_millis(1000);
    s.graces.agent_ms = 1000;
    s
}

#[tokio::test]
async fn dead_node_agents_cardholders_are_told_at_once_then_requeued() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let settings = quick_nodes(&redis.url(), &prefix);
    let timeout = settings.node_timeout;
    let a = TestHub::spawn(settings).await;
    let mut b = TestHub::spawn_killable(quick_nodes(&redis.url(), &prefix)).await;
    let (mut ch, _) = Client::connect(&a.ws_url(), &cardholder("dn-ch", "standard")).await;
    let mut ag = available_agent(&b.ws_url(), "dn-ag", &["standard"], 1).await;
    let id = paired(&mut ch, &mut ag, "general").await;
    ch.send(json!({"type": "say", "id": "1", "text": "hello"}))
        .await;
    assert_eq!(ag.expect_msg(1).await["text"], "hello");

    // Node B dies: no close, no presence cleanup, no more heartbeats.
    let killed = std::time::Instant::now();
    b.kill();
    let told = ch
        .expect_where("msg", |f| {
            f["from"] == "system"
                && f["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("disconnected"))
        })
        .await;
    let took = killed.elapsed();
    assert_eq!(told["conversation"], id.as_str());
    // Declared dead within the timeout plus one heartbeat of the survivor
    // (and a margin for a loaded machine), not after the agent's grace.
    assert!(
        took < timeout + std::time::Duration::from_millis(1500),
        "told after {took:?}"
    );
    // Only the agent's grace remains: then the chat is requeued.
    let back = ch
        .expect_where("msg", |f| {
            f["from"] == "system"
                && f["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("front of the queue"))
        })
        .await;
    assert_eq!(back["conversation"], id.as_str());
    assert_eq!(ch.expect("queued").await["position"], 1);
    // Another agent picks it up.
    let mut other = available_agent(&a.ws_url(), "dn-ag2", &["standard"], 1).await;
    assert_eq!(other.expect("assigned").await["conversation"], id.as_str());
    drop(ag);
}

#[tokio::test]
async fn redis_losing_its_data_ends_chats_as_lost_before_resync() {
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    let hub = TestHub::spawn(quick_nodes(&redis.url(), &prefix)).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("lost-ch", "standard")).await;
    let mut ag = available_agent(&hub.ws_url(), "lost-ag", &["standard"], 1).await;
    let id = paired(&mut ch, &mut ag, "general").await;
    // A queued chat of a second cardholder, known only from its `start`.
    let (mut waiting, _) = Client::connect(&hub.ws_url(), &cardholder("lost-q", "standard")).await;
    waiting
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    let queued = waiting.expect("queued").await["conversation"]
        .as_str()
        .expect("id")
        .to_owned();

    // Redis restarts with nothing kept.
    redis.restart();
    for (client, conversation) in [(&mut ch, &id), (&mut ag, &id), (&mut waiting, &queued)] {
        let ended = client
            .expect_where("ended", |f| f["conversation"] == conversation.as_str())
            .await;
        assert_eq!(ended["reason"], "lost");
        assert_eq!(client.expect_close().await, Closed::Code(1012));
    }
    // Back again: nothing is open, and a new chat can start.
    let (mut back, welcome) =
        Client::connect(&hub.ws_url(), &cardholder("lost-ch", "standard")).await;
    assert!(welcome["conversation"].is_null(), "{welcome}");
    back.send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(back.expect("queued").await["position"], 1);
}

#[tokio::test]
async fn unavailable_say_resent_with_the_same_id_is_stored_once() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    // A node timeout above the pause, so the node is not swept meanwhile.
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.node_timeout = std::time::Duration::from_secs(15);
    let hub = TestHub::spawn(settings).await;
    let mut ag = available_agent(&hub.ws_url(), "ua-ag", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("ua-1", "standard")).await;
    let conversation = paired(&mut ch, &mut ag, "general").await;
    ch.send(json!({"type": "say", "id": "before", "text": "first"}))
        .await;
    ch.expect_where("msg", |f| f["id"] == "before").await;

    // Redis stops answering for longer than the hub waits (3 s) while the
    // message is in flight: its outcome is unknown.
    pause_redis(&redis.url(), 4_500).await;
    ch.send(json!({"type": "say", "id": "paused", "text": "are you there?"}))
        .await;
    let error = ch.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("unavailable"), Some("paused")),
        "{error}"
    );
    // Resent with the same id until it is confirmed: the first copy may
    // have been stored when Redis came back; either way it is stored once.
    let confirmed = ch
        .say_confirmed(json!({"type": "say", "id": "paused", "text": "are you there?"}))
        .await;
    // Right after the pause the node may still be catching up (`busy`).
    ch.say_confirmed(json!({"type": "say", "id": "after", "text": "and then"}))
        .await;
    // A fresh connection reads the whole stored transcript.
    let (mut reader, _) = Client::connect(&hub.ws_url(), &cardholder("ua-1", "standard")).await;
    reader.send(json!({"type": "sync", "after": 0})).await;
    let page = reader.expect("transcript").await;
    let entries = page["entries"].as_array().expect("entries").clone();
    let seqs: Vec<u64> = entries.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gap: {page}"
    );
    let copies = entries.iter().filter(|e| e["id"] == "paused").count();
    assert_eq!(copies, 1, "stored once: {page}");
    assert_eq!(
        entries
            .iter()
            .find(|e| e["id"] == "paused")
            .map(|e| &e["seq"]),
        Some(&confirmed["seq"])
    );
    // The agent heard it once.
    ag.expect_where("msg", |f| {
        f["id"] == "paused" && f["conversation"] == conversation.as_str()
    })
    .await;
    ag.expect_where("msg", |f| f["id"] == "after").await;
    assert!(
        ag.take_pending("msg").iter().all(|f| f["id"] != "paused"),
        "no second copy reached the agent"
    );
}
