//! Limits and checks that protect the hub at the HTTP edge: connection
//! budgets, the request-header deadline, origins, URL tokens, framing
//! headers, oversized first frames.

use std::time::Duration;

use serde_json::json;
use switchboard_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

/// An upgrade request to `hub` with extra headers (a later one replaces an
/// earlier one of the same name unless `append`).
fn request_with(hub: &TestHub, headers: &[(&'static str, &str)], append: bool) -> Request {
    let mut r = hub.ws_url().into_client_request().expect("request");
    for (name, value) in headers {
        let value = value.parse().expect("header value");
        if append {
            r.headers_mut().append(*name, value);
        } else {
            r.headers_mut().insert(*name, value);
        }
    }
    r
}

#[tokio::test]
async fn sockets_that_never_authenticate_do_not_take_users_slots() {
    let mut settings = memory_settings();
    settings.max_connections = 5;
    let hub = TestHub::spawn(settings).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(
            Client::connect_raw(&hub.ws_url(), None)
                .await
                .expect("a bare upgrade is let in to authenticate"),
        );
    }
    // Five sockets still authenticating: real users get in regardless.
    let (_header, welcome) = Client::connect(&hub.ws_url(), &cardholder("lim-1", "standard")).await;
    assert_eq!(welcome["sub"], "lim-1");
    let mut framed = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    framed
        .send(json!({"type": "auth", "token": cardholder("lim-2", "standard")}))
        .await;
    assert_eq!(framed.expect("welcome").await["sub"], "lim-2");
}

#[tokio::test]
async fn connections_still_authenticating_have_their_own_budget() {
    let mut settings = memory_settings();
    settings.max_pending_auth = 2;
    let hub = TestHub::spawn(settings).await;
    let mut first = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    let _second = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    assert_eq!(
        Client::connect_raw(&hub.ws_url(), None).await.err(),
        Some(503),
        "a third socket still authenticating is refused"
    );
    // Header authentication needs no pending slot.
    let (_c, _) = Client::connect(&hub.ws_url(), &cardholder("pend-0", "standard")).await;
    // Authenticating gives the pending slot back.
    first
        .send(json!({"type": "auth", "token": cardholder("pend-1", "standard")}))
        .await;
    first.expect("welcome").await;
    assert!(Client::connect_raw(&hub.ws_url(), None).await.is_ok());
}

#[tokio::test]
async fn a_full_node_refuses_authenticated_connections() {
    let mut settings = memory_settings();
    settings.max_connections = 1;
    let hub = TestHub::spawn(settings).await;
    let (_in, _) = Client::connect(&hub.ws_url(), &cardholder("full-1", "standard")).await;
    assert_eq!(
        Client::connect_raw(&hub.ws_url(), Some(&cardholder("full-2", "standard")))
            .await
            .err(),
        Some(503),
        "header path: 503 without upgrading"
    );
    let mut late = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("a socket may still come in to authenticate");
    late.send(json!({"type": "auth", "token": cardholder("full-3", "standard")}))
        .await;
    assert_eq!(
        late.expect_close().await,
        Closed::Code(1013),
        "first-frame path: try again later"
    );
}

/// Reads until the hub closes the connection; `None` when it is still open
/// after `bound`.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    match tokio::time::timeout(bound, stream.read_to_end(&mut got)).await {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

/// On paused time: the hub's header deadline fires as soon as nothing
/// else is left to do, before the test's own bound.
#[tokio::test(start_paused = true)]
async fn requests_whose_headers_do_not_arrive_in_time_are_dropped() {
    let mut settings = memory_settings();
    settings.header_read_timeout = Duration::from_millis(300);
    let hub = TestHub::spawn(settings).await;
    // Raw TCP on purpose: no HTTP client can be made to send half a request
    // and then stall, or to connect and send nothing. Every well-formed
    // request in the suite goes through `http_get`/`http_exchange` (reqwest).
    let mut half_sent = TcpStream::connect(hub.addr).await.expect("connect");
    half_sent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        .await
        .expect("write");
    let mut silent = TcpStream::connect(hub.addr).await.expect("connect");
    assert!(
        closed_within(&mut half_sent, Duration::from_secs(5))
            .await
            .is_some(),
        "a half-sent request is dropped"
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that sends nothing is dropped"
    );
    // Complete requests are served as before, WebSockets live on.
    assert_eq!(http_get(&hub.http_url("/healthz")).await.0, 200);
    let (mut c, _) = Client::connect(&hub.ws_url(), &cardholder("slow-1", "standard")).await;
    c.send(json!({"type": "start", "topic": "general"})).await;
    c.expect("queued").await;
}

#[tokio::test]
async fn dns_rebinding_pages_are_refused() {
    // No --allowed-origins: only the hub's own origin, which the request's
    // Host cannot change.
    let hub = TestHub::spawn(memory_settings()).await;
    let rebinding = request_with(
        &hub,
        &[("host", "evil.example"), ("origin", "http://evil.example")],
        false,
    );
    assert_eq!(Client::connect_request(rebinding).await.err(), Some(403));
    let own = format!("http://{}", hub.addr);
    let twice = request_with(&hub, &[("origin", &own), ("origin", &own)], true);
    assert_eq!(
        Client::connect_request(twice).await.err(),
        Some(403),
        "a repeated Origin is refused"
    );
    let malformed = request_with(&hub, &[("origin", &format!("{own}/page"))], false);
    assert_eq!(Client::connect_request(malformed).await.err(), Some(403));
    let localhost = format!("http://localhost:{}", hub.addr.port());
    assert!(
        Client::connect_request(request_with(&hub, &[("origin", &own)], false))
            .await
            .is_ok()
    );
    assert!(
        Client::connect_request(request_with(&hub, &[("origin", &localhost)], false))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn public_url_is_the_hubs_origin() {
    let mut settings = memory_settings();
    settings.public_origin = Some("https://chat.example.com".into());
    let hub = TestHub::spawn(settings).await;
    let public = request_with(&hub, &[("origin", "https://chat.example.com")], false);
    assert!(Client::connect_request(public).await.is_ok());
    let own = format!("http://{}", hub.addr);
    let listener = request_with(&hub, &[("origin", &own)], false);
    assert_eq!(Client::connect_request(listener).await.err(), Some(403));
}

#[tokio::test]
async fn url_tokens_are_refused_whatever_their_spelling() {
    let hub = TestHub::spawn(memory_settings()).await;
    let t = cardholder("q", "standard");
    for key in [
        "Token",
        "TOKEN",
        "id_token",
        "ID_TOKEN",
        "%74oken",
        "access%5Ftoken",
    ] {
        let url = format!("{}?{key}={t}", hub.ws_url());
        assert_eq!(
            Client::connect_raw(&url, None).await.err(),
            Some(401),
            "?{key}= must be refused"
        );
    }
    let url = format!("{}?session={t}", hub.ws_url());
    assert_eq!(
        Client::connect_raw(&url, None).await.err(),
        Some(401),
        "a JWT under any key"
    );
}

#[tokio::test]
async fn pages_refuse_framing_and_the_widget_stays_embeddable() {
    let mut settings = memory_settings();
    settings.dev = true;
    let hub = TestHub::spawn(settings).await;
    for page in ["/", "/agent/"] {
        let reply = http_exchange("GET", &hub.http_url(page), None).await;
        assert_eq!(reply.status, 200, "{page}");
        let csp = reply
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{page} has a CSP"));
        assert!(csp.contains("frame-ancestors"), "{page}: {csp}");
        assert!(reply.header("x-frame-options").is_some(), "{page}");
        assert_eq!(
            reply.header("referrer-policy"),
            Some("no-referrer"),
            "{page}"
        );
    }
    let demo = http_exchange("GET", &hub.http_url("/"), None).await;
    assert_eq!(demo.header("x-frame-options"), Some("DENY"));
    let widget = http_exchange("GET", &hub.http_url("/widget/switchboard-widget.js"), None).await;
    assert_eq!(widget.status, 200);
    assert_eq!(
        widget.header("cross-origin-resource-policy"),
        Some("cross-origin")
    );
    assert_eq!(widget.header("x-frame-options"), None);
}

#[tokio::test]
async fn an_oversized_first_frame_closes_1009() {
    let hub = TestHub::spawn(memory_settings()).await;
    let mut c = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    let big = "x".repeat(70 * 1024);
    c.send_text(format!(r#"{{"type":"auth","token":"{big}"}}"#))
        .await;
    assert_eq!(c.expect_close().await, Closed::Code(1009));
}

/// A hub on its own Redis whose conversations hold at most four entries and
/// 10,000 bytes of typed text.
#[tokio::test]
async fn a_full_conversation_refuses_more_text_and_the_agent_still_ends_it() {
    let redis = RedisServer::start();
    let mut settings = redis_settings(&redis.url(), &unique_prefix());
    settings.transcript_bounds = switchboard::store::TranscriptBounds {
        entries: 4,
        bytes: 10_000,
    };
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut ch, _) = Client::connect(&url, &cardholder("full-1", "standard")).await;
    let mut ag = available_agent(&url, "full-ag", &["standard"], 2).await;
    let id = paired(&mut ch, &mut ag, "billing").await;
    let (mut other, _) = Client::connect(&url, &cardholder("full-2", "standard")).await;
    let other_id = paired(&mut other, &mut ag, "general").await;
    for i in 1..=4u64 {
        ch.say_confirmed(
            json!({"type": "say", "id": format!("k{i}"), "text": format!("line {i}")}),
        )
        .await;
    }
    ch.send(json!({"type": "say", "id": "k5", "text": "one more"}))
        .await;
    let e = ch.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("transcript_full"), Some("k5"))
    );
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("this conversation is full")),
        "{e}"
    );
    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "and me?"}))
        .await;
    let e = ag.expect("error").await;
    assert_eq!(e["code"], "transcript_full");
    // A resend of a stored message is still its echo, not an error.
    ch.send(json!({"type": "say", "id": "k2", "text": "line 2"}))
        .await;
    let echo = ch.expect("msg").await;
    assert_eq!(
        (echo["seq"].as_u64(), echo["id"].as_str()),
        (Some(2), Some("k2"))
    );
    // Another conversation keeps working.
    other
        .say_confirmed(json!({"type": "say", "id": "o1", "text": "still here"}))
        .await;
    // The agent ends the full chat.
    ag.send(json!({"type": "end", "conversation": id})).await;
    let ended = ch.expect("ended").await;
    assert_eq!(ended["conversation"], id.as_str());
    ag.send(json!({"type": "say", "conversation": other_id, "id": "a2", "text": "yes"}))
        .await;
    other.expect_where("msg", |f| f["id"] == "a2").await;
}

/// Typed text is limited per user in bytes a second, across the user's
/// connections, and another user is not slowed.
#[tokio::test]
async fn typed_text_is_limited_in_bytes_per_second_per_user() {
    let mut settings = memory_settings();
    settings.text_burst_bytes = 30_000;
    settings.text_bytes_per_sec = 100;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "bytes-ag", &["standard"], 2).await;
    let (mut phone, _) = Client::connect(&url, &cardholder("bytes-1", "standard")).await;
    paired(&mut phone, &mut ag, "general").await;
    let (mut laptop, _) = Client::connect(&url, &cardholder("bytes-1", "standard")).await;
    let (mut calm, _) = Client::connect(&url, &cardholder("bytes-2", "standard")).await;
    paired(&mut calm, &mut ag, "general").await;
    // 4,000 characters of 3 bytes: 12,000 bytes a message.
    let long = "€".repeat(4000);
    phone
        .say_confirmed(json!({"type": "say", "id": "p1", "text": long}))
        .await;
    phone
        .say_confirmed(json!({"type": "say", "id": "p2", "text": long}))
        .await;
    // The same user's other connection shares the budget.
    laptop
        .send(json!({"type": "say", "id": "p3", "text": long}))
        .await;
    let e = laptop.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("rate_limited"), Some("p3"))
    );
    phone
        .send(json!({"type": "say", "id": "p4", "text": long}))
        .await;
    let e = phone.expect_where("error", |f| f["ref"] == "p4").await;
    assert_eq!(e["code"], "rate_limited");
    // A short line still fits in what is left.
    phone
        .say_confirmed(json!({"type": "say", "id": "p5", "text": "sorry"}))
        .await;
    // Another user is not slowed.
    for i in 0..2 {
        calm.say_confirmed(json!({"type": "say", "id": format!("c{i}"), "text": long}))
            .await;
    }
    phone.expect_none("msg", Duration::from_millis(300)).await;
}

/// Every `SLOWLOG` entry as (µs, its command in upper case); the log is
/// reset after.
async fn take_slowlog(conn: &mut redis::aio::MultiplexedConnection) -> Vec<(i64, String)> {
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(1_000)
        .query_async(conn)
        .await
        .expect("SLOWLOG GET");
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(conn)
        .await
        .expect("SLOWLOG RESET");
    log.into_iter()
        .filter_map(|e| {
            let redis::Value::Array(fields) = e else {
                return None;
            };
            let (Some(redis::Value::Int(us)), Some(redis::Value::Array(args))) =
                (fields.get(2), fields.get(3))
            else {
                return None;
            };
            match args.first() {
                Some(redis::Value::BulkString(b)) => {
                    Some((*us, String::from_utf8_lossy(b).to_uppercase()))
                }
                _ => None,
            }
        })
        .collect()
}

/// The slowest `SLOWLOG` entry whose command starts with `name` (µs), and
/// how many there were; the log is reset after.
async fn slowest(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> (i64, usize) {
    take_slowlog(conn)
        .await
        .into_iter()
        .filter(|(_, cmd)| cmd.starts_with(name))
        .fold((0, 0), |(worst, n), (us, _)| (worst.max(us), n + 1))
}

/// A measurement, not a check (docs/operations.md has its figures): fills
/// one conversation to the default bounds (5,000 entries, 2,000,000 bytes)
/// on a real redis-server and reports how long Redis spends in each step
/// that touches the whole transcript (SLOWLOG, µs). Run it with
/// `cargo test --release -p switchboard-tests --test it measure_ -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement: run by hand, figures in docs/operations.md"]
async fn measure_whole_transcript_steps_at_the_bounds() {
    use switchboard::domain::{Author, EndReason, UserId};
    use switchboard::store::redis::RedisStore;
    use switchboard::store::{Chats, NewEntry, StoreError, Transcripts, DEFAULT_HOT_RETENTION_MS};
    let redis = RedisServer::start();
    let mut conn = redis_conn(&redis.url()).await;
    let prefix = unique_prefix();
    let store = RedisStore::connect(&redis.url(), &prefix, "measure", DEFAULT_HOT_RETENTION_MS)
        .await
        .expect("connect")
        .archiving();
    let id = switchboard_tests::conformance::open(
        &store,
        "measured",
        switchboard::domain::Tier::Standard,
        now_s() * 1000,
    )
    .await;
    let text = "x".repeat(400);
    let say = |i: u32| NewEntry {
        author: Author::Cardholder,
        sender: Some(UserId("measured".into())),
        text: text.clone(),
        client_id: Some(format!("k{i}")),
        now: now_s() * 1000,
        redact: Vec::new(),
    };
    for i in 0..4_999 {
        store.append(&id, say(i)).await.expect("below the bounds");
    }
    // Every command from here on is logged with its time in Redis.
    for (k, v) in [
        ("slowlog-log-slower-than", "0"),
        ("slowlog-max-len", "1000"),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query_async(&mut conn)
            .await
            .expect("CONFIG SET");
    }
    slowest(&mut conn, "").await;
    store
        .append(&id, say(4_999))
        .await
        .expect("the last one fits");
    let (append, _) = slowest(&mut conn, "FCALL").await;
    assert!(matches!(
        store.append(&id, say(5_000)).await,
        Err(StoreError::TranscriptFull)
    ));
    let (refused, _) = slowest(&mut conn, "FCALL").await;
    println!("append: the 5,000th {append} µs, the refused 5,001st {refused} µs");
    let tx = format!("{prefix}:tx:{id}");
    let bytes: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&tx)
        .query_async(&mut conn)
        .await
        .expect("MEMORY USAGE");
    println!("transcript key: {bytes} bytes in Redis");

    let t = std::time::Instant::now();
    store
        .end(&id, None, EndReason::CardholderLeft, now_s() * 1000)
        .await
        .expect("end")
        .expect("it was open");
    let wall = t.elapsed();
    let (end, _) = slowest(&mut conn, "FCALL").await;
    println!("end: {end} µs in Redis ({wall:?} for the caller)");

    let t = std::time::Instant::now();
    let batch = store
        .take_handovers(10, 60_000, now_s() * 1000)
        .await
        .expect("take");
    let wall = t.elapsed();
    assert_eq!(batch.items.len(), 1);
    let (step, page, pages) = slowest_all(&mut conn).await;
    println!(
        "archive take: step {step} µs, {pages} LRANGE pages, slowest {page} µs ({wall:?} for the caller)"
    );
    match batch.items[0].decode().expect("decodes") {
        switchboard::store::redis::handover::Handed::Conversation(c) => {
            assert_eq!(c.entries.len(), 5_000)
        }
        _ => panic!("a conversation"),
    }
    let done: Vec<_> = batch.items.iter().collect();
    store
        .handed_over(&done, now_s() * 1000)
        .await
        .expect("handed over");
    let (handed, _) = slowest(&mut conn, "FCALL").await;
    println!("handed_over (sets the expiry): {handed} µs");

    // What the keys' expiry costs when Redis frees them in its own thread
    // (lazyfree-lazy-expire no, the default): as a DEL of a copy; and the
    // copy of the whole transcript one script used to make.
    for (what, script) in [
        ("", "redis.call('COPY', KEYS[1], KEYS[2]) return 0"),
        (
            "DEL of a copy (freeing it, as at expiry)",
            "return redis.call('DEL', KEYS[2])",
        ),
        ("", "redis.call('COPY', KEYS[1], KEYS[2]) return 0"),
        ("UNLINK of a copy", "return redis.call('UNLINK', KEYS[2])"),
        (
            "LRANGE 0 -1 + cjson in a step (before)",
            "return cjson.encode({e = redis.call('LRANGE', KEYS[1], 0, -1)})",
        ),
    ] {
        let _: redis::Value = redis::cmd("EVAL")
            .arg(script)
            .arg(2)
            .arg(&tx)
            .arg(format!("{tx}:copy"))
            .query_async(&mut conn)
            .await
            .expect("EVAL");
        let (us, _) = slowest(&mut conn, "EVAL").await;
        if !what.is_empty() {
            println!("{what}: {us} µs");
        }
    }
}

/// The slowest FCALL, the slowest LRANGE and how many LRANGEs the log
/// holds (µs); the log is reset after.
async fn slowest_all(conn: &mut redis::aio::MultiplexedConnection) -> (i64, i64, usize) {
    let (mut step, mut page, mut pages) = (0, 0, 0);
    for (us, cmd) in take_slowlog(conn).await {
        match cmd.as_str() {
            "FCALL" => step = step.max(us),
            "LRANGE" => {
                page = page.max(us);
                pages += 1;
            }
            _ => {}
        }
    }
    (step, page, pages)
}
