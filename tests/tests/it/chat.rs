//! Conversations end to end on a real Redis: queueing, pairing, relay,
//! idempotency, multi-device, resume, bad input, grace periods.

use serde_json::{json, Value};
use switchboard_tests::*;

async fn redis_hub(redis: &RedisServer) -> TestHub {
    TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await
}

#[tokio::test]
async fn cardholder_and_agent_chat_both_ways() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("ch-1", "premium")).await;
    ch.send(
        json!({"type": "start", "topic": "billing", "text": "Hello, a question about my bill"}),
    )
    .await;
    let queued = ch.expect("queued").await;
    assert_eq!(queued["position"], 1);
    assert_eq!(queued["tier"], "premium");
    let id = queued["conversation"].as_str().expect("id").to_owned();
    ch.expect_msg(1).await;

    let mut ag = available_agent(&url, "ag-1", &["premium"], 3).await;
    let to_agent = ag.expect("assigned").await;
    assert_eq!(to_agent["conversation"], id.as_str());
    assert_eq!(
        to_agent["cardholder"],
        json!({"sub": "ch-1", "name": "Cardholder ch-1", "tier": "premium"})
    );
    assert_eq!(to_agent["topic"], "billing");
    assert_eq!(
        to_agent["transcript"][0]["text"],
        "Hello, a question about my bill"
    );
    let to_cardholder = ch.expect("assigned").await;
    assert_eq!(to_cardholder["agent"]["name"], "Agent ag-1");

    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Hi, I can help"}))
        .await;
    let m = ch.expect_msg(2).await;
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("agent"), Some("Hi, I can help"))
    );
    assert_eq!(
        ag.expect_msg(2).await["id"],
        "a1",
        "the sender gets its own msg back"
    );
    ch.send(
        json!({"type": "say", "id": "c1", "text": "My card 4111 1111 1111 1111 was charged twice"}),
    )
    .await;
    let m = ag.expect_msg(3).await;
    assert_eq!(m["from"], "cardholder");
    assert_eq!(
        m["text"], "My card **** **** **** 1111 was charged twice",
        "card numbers are masked"
    );
    ch.expect_msg(3).await;

    ch.send(json!({"type": "typing", "on": true})).await;
    assert_eq!(ag.expect("typing").await["from"], "cardholder");
    ag.send(json!({"type": "read", "conversation": id, "seq": 3}))
        .await;
    assert_eq!(ch.expect("read").await["seq"], 3);

    ag.send(json!({"type": "end", "conversation": id})).await;
    assert_eq!(ch.expect("ended").await["reason"], "agent_ended");
    assert_eq!(ag.expect("ended").await["reason"], "agent_ended");
    ch.send(json!({"type": "say", "id": "c2", "text": "still there?"}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "no_conversation");
}

#[tokio::test]
async fn say_is_idempotent_and_seq_gapless_across_devices() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let token = cardholder("ch-md", "standard");
    let (mut phone, _) = Client::connect(&url, &token).await;
    let (mut web, _) = Client::connect(&url, &token).await;
    let mut ag = available_agent(&url, "ag-md", &["standard"], 1).await;
    let id = paired(&mut phone, &mut ag, "general").await;
    web.expect("assigned").await;
    for i in 1..=5 {
        phone
            .send(json!({"type": "say", "id": format!("k{i}"), "text": format!("line {i}")}))
            .await;
    }
    // A resend after a reconnect: same id, must not be stored twice.
    phone
        .send(json!({"type": "say", "id": "k3", "text": "line 3"}))
        .await;
    for seq in 1..=5u64 {
        let m = web.expect_msg(seq).await;
        assert_eq!(
            m["text"],
            format!("line {seq}"),
            "every device sees every line in order"
        );
        ag.expect_msg(seq).await;
    }
    ag.send(json!({"type": "say", "conversation": id, "id": "z", "text": "next"}))
        .await;
    assert_eq!(
        ag.expect_msg(6).await["text"],
        "next",
        "the resend took no seq"
    );
    // No duplicate reaches the agent.
    ag.expect_none("msg", QUIET_PERIOD).await;
    // A fresh connection reads the whole stored transcript (one that got
    // entries live is not sent them again).
    let (mut reader, _) = Client::connect(&url, &token).await;
    reader.send(json!({"type": "sync", "after": 0})).await;
    let page = reader.expect("transcript").await;
    let seqs = page_seqs(&page);
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(page["more"], false);
}

#[tokio::test]
async fn resume_after_disconnect_with_sync() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let token = cardholder("ch-rs", "prepaid");
    let (mut ch, _) = Client::connect(&url, &token).await;
    let mut ag = available_agent(&url, "ag-rs", &["prepaid"], 2).await;
    let id = paired(&mut ch, &mut ag, "general").await;
    ch.send(json!({"type": "say", "id": "c1", "text": "one"}))
        .await;
    ch.expect_msg(1).await;
    ch.drop_connection();
    for i in 0..3 {
        ag.send(json!({"type": "say", "conversation": id, "id": format!("a{i}"), "text": format!("while away {i}")})).await;
    }
    ag.expect_msg(4).await;
    let (mut back, welcome) = Client::connect(&url, &token).await;
    assert_eq!(welcome["conversation"]["id"], id.as_str());
    assert_eq!(welcome["conversation"]["status"], "active");
    assert_eq!(welcome["conversation"]["last_seq"], 4);
    back.send(json!({"type": "sync", "after": 1})).await;
    let page = back.expect("transcript").await;
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    for (e, seq) in entries.iter().zip(2..=4u64) {
        assert_eq!(
            (e["seq"].as_u64(), e["from"].as_str()),
            (Some(seq), Some("agent"))
        );
    }
    // start again is idempotent: the same conversation comes back.
    back.send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(back.expect("assigned").await["conversation"], id.as_str());
}

#[tokio::test]
async fn bad_input_gets_errors_and_the_connection_keeps_working() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("ch-bad", "standard")).await;
    ch.send_text("{not json".into()).await;
    assert_eq!(ch.expect("error").await["code"], "bad_json");
    ch.send(json!({"type": "teleport"})).await;
    assert_eq!(ch.expect("error").await["code"], "unknown_type");
    ch.send(json!({"type": "start", "topic": "weather"})).await;
    assert_eq!(ch.expect("error").await["code"], "bad_field");
    ch.send(json!({"type": "say", "id": "x", "text": "hi"}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "no_conversation");
    ch.send(json!({"type": "status", "state": "available"}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "not_allowed");
    ch.send(json!({"type": "start", "topic": "general"})).await;
    ch.expect("queued").await;
    let long = "x".repeat(4001);
    ch.send(json!({"type": "say", "id": "long", "text": long}))
        .await;
    let e = ch.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("too_long"), Some("long"))
    );
    ch.send(json!({"type": "say", "id": "ok", "text": "x".repeat(4000)}))
        .await;
    assert_eq!(ch.expect("msg").await["seq"], 1, "still works after errors");
    ch.send_text("y".repeat(70 * 1024)).await;
    assert_eq!(
        ch.expect_close().await,
        Closed::Code(1009),
        "frames over 64 KiB close with 1009"
    );
}

#[tokio::test]
async fn floods_are_rate_limited() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("ch-flood", "standard")).await;
    for _ in 0..60 {
        ch.send(json!({"type": "typing", "on": true})).await;
    }
    let e = ch
        .expect_where("error", |f| f["code"] == "rate_limited")
        .await;
    assert_eq!(e["code"], "rate_limited");
}

#[tokio::test]
async fn positions_move_up_when_someone_leaves() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let mut clients = Vec::new();
    for i in 0..3 {
        let (mut c, _) = Client::connect(&url, &cardholder(&format!("q{i}"), "standard")).await;
        c.send(json!({"type": "start", "topic": "general"})).await;
        assert_eq!(c.expect("queued").await["position"], i + 1);
        clients.push(c);
    }
    clients[0].send(json!({"type": "leave"})).await;
    assert_eq!(
        clients[0].expect("ended").await["reason"],
        "cardholder_left"
    );
    assert_eq!(
        clients[1]
            .expect_where("queued", |f| f["position"] == 1)
            .await["position"],
        1
    );
    assert_eq!(
        clients[2]
            .expect_where("queued", |f| f["position"] == 2)
            .await["position"],
        2
    );
}

#[tokio::test]
async fn forgot_login_points_to_self_service_then_queues() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("ch-fl", "standard")).await;
    ch.send(json!({"type": "start", "topic": "forgot_login"}))
        .await;
    let m = ch.expect_msg(1).await;
    assert_eq!(m["from"], "system");
    assert!(m["text"]
        .as_str()
        .unwrap_or("")
        .contains("Forgot username or password"));
    ch.expect("queued").await;
}

#[tokio::test]
async fn queued_cardholder_keeps_place_only_for_the_grace() {
    let redis = RedisServer::start();
    let mut settings = redis_settings(&redis.url(), &unique_prefix());
    settings.graces.cardholder_ms = 500;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut first, _) = Client::connect(&url, &cardholder("g1", "standard")).await;
    first
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    first.expect("queued").await;
    let (mut second, _) = Client::connect(&url, &cardholder("g2", "standard")).await;
    second
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(second.expect("queued").await["position"], 2);
    first.drop_connection();
    // After the grace the dropped cardholder's conversation is abandoned.
    second.expect_where("queued", |f| f["position"] == 1).await;
    let (_back, welcome) = Client::connect(&url, &cardholder("g1", "standard")).await;
    assert!(
        welcome["conversation"].is_null(),
        "the abandoned conversation is over: {welcome}"
    );
}

#[tokio::test]
async fn reconnecting_within_the_grace_keeps_the_place() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let token = cardholder("g3", "business");
    let (mut c, _) = Client::connect(&url, &token).await;
    c.send(json!({"type": "start", "topic": "general"})).await;
    let id = c.expect("queued").await["conversation"].clone();
    c.drop_connection();
    let (mut back, welcome) = Client::connect(&url, &token).await;
    assert_eq!(welcome["conversation"]["id"], id);
    assert_eq!(welcome["conversation"]["status"], "queued");
    assert_eq!(back.expect("queued").await["position"], 1);
}

#[tokio::test]
async fn agent_who_drops_gets_its_chats_requeued_after_the_grace() {
    let redis = RedisServer::start();
    let mut settings = redis_settings(&redis.url(), &unique_prefix());
    settings.graces.agent_ms = 300;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("ch-ad", "standard")).await;
    let mut first = available_agent(&url, "ag-drop", &["standard"], 1).await;
    let id = paired(&mut ch, &mut first, "general").await;
    first.drop_connection();
    let m = ch.expect_where("msg", |f| f["from"] == "system").await;
    assert!(
        m["text"].as_str().unwrap_or("").contains("disconnected"),
        "{m}"
    );
    assert_eq!(ch.expect("queued").await["position"], 1);
    let mut second = available_agent(&url, "ag-next", &["standard"], 1).await;
    let assigned = second.expect("assigned").await;
    assert_eq!(assigned["conversation"], id.as_str());
    let transcript: Vec<Value> = assigned["transcript"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        transcript.iter().any(|e| e["from"] == "system"),
        "the transcript is kept"
    );
}

#[tokio::test]
async fn transfer_moves_the_chat_to_another_team() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("ch-tr", "standard")).await;
    let mut general = available_agent(&url, "ag-gen", &["standard"], 1).await;
    let id = paired(&mut ch, &mut general, "general").await;
    general
        .send(json!({"type": "transfer", "conversation": id, "tier": "business"}))
        .await;
    assert_eq!(general.expect("ended").await["reason"], "transferred");
    let q = ch.expect_where("queued", |f| f["tier"] == "business").await;
    assert_eq!(q["position"], 1);
    let mut specialist = available_agent(&url, "ag-biz", &["business"], 1).await;
    assert_eq!(
        specialist.expect("assigned").await["conversation"],
        id.as_str()
    );
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    assert_eq!(http_get(&hub.http_url("/healthz")).await.0, 200);
    assert_eq!(http_get(&hub.http_url("/readyz")).await.0, 200);
    let (_c, _) = Client::connect(&hub.ws_url(), &cardholder("m1", "standard")).await;
    let m = scrape(&hub).await;
    assert_eq!(
        m.value("switchboard_connections", &[("role", "cardholder")]),
        1.0
    );
    assert_eq!(
        m.value("switchboard_queue_depth", &[("tier", "premium")]),
        0.0
    );
    assert_eq!(m.value("switchboard_assignments_total", &[]), 0.0);
    assert_eq!(m.value("switchboard_store_errors_total", &[]), 0.0);
    assert!(m.value("process_resident_memory_bytes", &[]) > 0.0);
    assert_eq!(
        http_get(&hub.http_url("/dev/token")).await.0,
        404,
        "no dev endpoints without --dev"
    );
}

/// Connections the hub closed for reading too slowly, from `/metrics`.
async fn slow_consumer_closes(hub: &TestHub) -> f64 {
    metric(hub, "switchboard_slow_consumer_closes_total", &[]).await
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_stalls_nobody() {
    let mut settings = memory_settings();
    settings.rate_burst = 10_000.0;
    settings.rate_per_sec = 10_000.0;
    // Neither the typing rate nor the transcript's bounds are under test here.
    settings.text_burst_bytes = 1 << 30;
    settings.text_bytes_per_sec = 1 << 30;
    settings.transcript_bounds.bytes = 1 << 30;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut stalled, _) = Client::connect(&url, &cardholder("slow", "standard")).await;
    let mut ag = available_agent(&url, "ag-fast", &["standard"], 1).await;
    let id = paired(&mut stalled, &mut ag, "general").await;
    // The cardholder stops reading; the agent keeps talking and keeps getting
    // its own lines back promptly.
    let text = "z".repeat(4000);
    let mut closed_at = None;
    for i in 1..=3000u64 {
        ag.send(json!({"type": "say", "conversation": id, "id": format!("s{i}"), "text": text}))
            .await;
        ag.expect_msg(i).await;
        if i % 100 == 0 && slow_consumer_closes(&hub).await == 1.0 {
            closed_at = Some(i);
            break;
        }
    }
    assert!(closed_at.is_some(), "the stalled client was never closed");
    // Its socket ends with 4429 once it reads again.
    assert_eq!(stalled.expect_close().await, Closed::Code(4429));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_after_a_bounded_amount() {
    let mut settings = memory_settings();
    settings.rate_burst = 10_000.0;
    settings.rate_per_sec = 10_000.0;
    // Neither the typing rate nor the transcript's bounds are under test here.
    settings.text_burst_bytes = 1 << 30;
    settings.text_bytes_per_sec = 1 << 30;
    settings.transcript_bounds.bytes = 1 << 30;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    // The stalled cardholder's own kernel takes a few KB, so nearly all that
    // piles up for it is the hub's: its queue and its socket's send buffer.
    let (mut stalled, _) =
        Client::connect_small_buffer(&url, &cardholder("stall", "standard"), 4096).await;
    let mut ag = available_agent(&url, "ag-stall", &["standard"], 1).await;
    let id = paired(&mut stalled, &mut ag, "general").await;
    // Another conversation on the same hub, to show it is not held up.
    let (mut steady, _) = Client::connect(&url, &cardholder("steady", "standard")).await;
    let mut ag2 = available_agent(&url, "ag-steady", &["standard"], 1).await;
    let other = paired(&mut steady, &mut ag2, "general").await;

    let text = "y".repeat(4000);
    let mut sent_bytes = 0usize;
    let mut closed = false;
    for i in 1..=1000u64 {
        ag.send(json!({"type": "say", "conversation": id, "id": format!("s{i}"), "text": text}))
            .await;
        ag.expect_msg(i).await;
        sent_bytes += text.len();
        // The other pair keeps talking, and hears every line in order.
        ag2.send(json!({"type": "say", "conversation": other, "id": format!("o{i}"), "text": "still here"}))
            .await;
        ag2.expect_msg(i).await;
        steady.expect_msg(i).await;
        if i % 5 == 0 && slow_consumer_closes(&hub).await == 1.0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the stalled client was never closed");
    // Unsent bytes are bounded in the hub (256 KiB queued, one 64 KiB batch
    // being written, a 64 KiB SO_SNDBUF that Linux doubles): the client is
    // closed long before the ~4 MB an autotuned kernel buffer would hold.
    assert!(
        sent_bytes <= 1024 * 1024,
        "closed only after {sent_bytes} bytes were sent its way"
    );
    assert_eq!(stalled.expect_close().await, Closed::Code(4429));
    // The other pair is still connected and talking.
    ag2.send(json!({"type": "say", "conversation": other, "id": "after", "text": "done"}))
        .await;
    steady.expect_where("msg", |f| f["text"] == "done").await;
}

/// On paused time: the hub's heartbeat ticks as soon as nothing else is
/// left to do.
#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_closed_after_three_missed_pings() {
    let mut settings = memory_settings();
    settings.heartbeat = std::time::Duration::from_millis(100);
    let hub = TestHub::spawn(settings).await;
    let (mut answering, _) = Client::connect(&hub.ws_url(), &cardholder("alive", "standard")).await;
    let (silent, _) = Client::connect(&hub.ws_url(), &cardholder("silent", "standard")).await;
    // The answering client keeps reading (so it answers pings); the silent
    // one reads nothing. Only the silent one is closed.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        tokio::select! {
            closed = answering.expect_close() => panic!("the answering client was closed: {closed:?}"),
            _ = stopped => answering,
        }
    });
    eventually("the silent connection is closed", async || {
        scrape(&hub)
            .await
            .get("switchboard_connections", &[("role", "cardholder")])
            == Some(1.0)
    })
    .await;
    let _ = stop.send(());
    let mut answering = reader.await.expect("reader");
    answering
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(
        answering.expect("queued").await["position"],
        1,
        "the answering client still works"
    );
    drop(silent);
}

#[tokio::test]
async fn a_replay_never_repeats_what_the_connection_got_live() {
    let redis = RedisServer::start();
    let hub = redis_hub(&redis).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "rp-ag", &["standard"], 1).await;
    let token = cardholder("rp-1", "standard");
    let (mut first, _) = Client::connect(&url, &token).await;
    let conversation = paired(&mut first, &mut ag, "general").await;
    first
        .say_confirmed(json!({"type": "say", "id": "r-1", "text": "one"}))
        .await;
    // A second device joins; from now on it gets every entry live.
    let (mut second, _) = Client::connect(&url, &token).await;
    first
        .say_confirmed(json!({"type": "say", "id": "r-2", "text": "two"}))
        .await;
    let live = second.expect_where("msg", |f| f["id"] == "r-2").await;
    // It asks for everything: the page holds what it did not get live, and
    // ends there.
    second.send(json!({"type": "sync", "after": 0})).await;
    let page = second.expect("transcript").await;
    let seqs = page_seqs(&page);
    let first_live = live["seq"].as_u64().expect("seq");
    assert_eq!(seqs, (1..first_live).collect::<Vec<_>>(), "{page}");
    assert_eq!(page["more"], false);
    // And a connection that got nothing live replays it all.
    let (mut third, _) = Client::connect(&url, &token).await;
    third.send(json!({"type": "sync", "after": 0})).await;
    let all = third.expect("transcript").await;
    assert_eq!(
        all["entries"].as_array().expect("entries").len() as u64,
        first_live,
        "{all} in {conversation}"
    );
}
