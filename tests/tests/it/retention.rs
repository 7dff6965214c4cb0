//! Hot retention on Redis: every way a conversation ends and a callback
//! request closes sets the keys' expiry, and a churn of conversations
//! through a hub leaves Redis as small as it found it.

use std::time::Duration;

use serde_json::json;
use switchboard::domain::CallbackOutcome;
use switchboard::domain::{
    now_millis, Author, ConversationId, Desk, EndReason, Millis, Tier, UserId,
};
use switchboard::store::redis::RedisStore;
use switchboard::store::{Callbacks, Chats, NewCallback, NewEntry, Presence, Side, Store};
use switchboard_tests::*;

async fn exists(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    let n: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .expect("EXISTS");
    n == 1
}

/// Every key under `prefix`, by SCAN (never KEYS).
async fn keys_under(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        out.extend(batch);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

async fn open(s: &dyn Store, who: &str, now: Millis) -> ConversationId {
    switchboard_tests::conformance::open(s, who, Tier::Standard, now).await
}

async fn say(s: &dyn Store, id: &ConversationId, who: &str, now: Millis) {
    s.append(
        id,
        NewEntry {
            author: Author::Cardholder,
            sender: Some(UserId(who.into())),
            text: "hello".into(),
            client_id: Some("k1".into()),
            now,
            redact: Vec::new(),
        },
    )
    .await
    .expect("append");
}

const RETENTION_MS: Millis = 600_000;

/// The three keys of a conversation carry the retention as their expiry.
async fn expires(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, id: &ConversationId) {
    for key in [
        format!("{prefix}:conv:{id}"),
        format!("{prefix}:tx:{id}"),
        format!("{prefix}:tx:{id}:keys"),
    ] {
        let ttl = pttl(conn, &key).await;
        assert!(
            ttl > RETENTION_MS - 60_000 && ttl <= RETENTION_MS,
            "{key}: PTTL {ttl}"
        );
    }
}

#[tokio::test]
async fn every_end_and_close_sets_the_retention() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let s = RedisStore::connect(&redis.url(), &prefix, "node-retention", RETENTION_MS)
        .await
        .expect("connect");
    let mut conn = redis_conn(&redis.url()).await;
    let now = now_millis();

    // Ended by the cardholder or an agent.
    let ended = open(&s, "r1", now).await;
    say(&s, &ended, "r1", now).await;
    let live = open(&s, "r2", now).await;
    say(&s, &live, "r2", now).await;
    s.end(&ended, None, EndReason::CardholderLeft, now)
        .await
        .expect("end")
        .expect("ended");
    expires(&mut conn, &prefix, &ended).await;
    for key in [
        format!("{prefix}:conv:{live}"),
        format!("{prefix}:tx:{live}"),
    ] {
        assert_eq!(pttl(&mut conn, &key).await, -1, "{key} is open: no expiry");
    }
    assert!(!exists(&mut conn, &format!("{prefix}:open:r1")).await);

    // Escalated: the system message goes in first, the expiry after it.
    let (request, _) = s
        .request_callback(NewCallback {
            desk: Desk::Fraud,
            sub: UserId("r2".into()),
            tier: Tier::Standard,
            name: None,
            cause: switchboard::domain::callback::Cause::Topic {
                topic: switchboard::domain::Topic::LockedAccount,
            },
            conversation: live.clone(),
            phone_last4: None,
            now,
        })
        .await
        .expect("request");
    s.escalate(&live, &request, "A specialist will call you".into(), now)
        .await
        .expect("escalate")
        .expect("ended");
    expires(&mut conn, &prefix, &live).await;

    // Abandoned: a queued cardholder whose grace period ran out.
    let abandoned = open(&s, "r3", now).await;
    say(&s, &abandoned, "r3", now).await;
    let who = UserId("r3".into());
    s.presence_up(&who, Side::Cardholder, now)
        .await
        .expect("up");
    s.presence_down(&who, Side::Cardholder, now, 0)
        .await
        .expect("down");
    let outcomes = s.expire_graces(now + 1).await.expect("graces");
    assert_eq!(outcomes.len(), 1);
    expires(&mut conn, &prefix, &abandoned).await;

    // A callback request closes: out of every index, its hash expires.
    let cb = format!("{prefix}:cb:{}", request.reference);
    assert_eq!(pttl(&mut conn, &cb).await, -1, "open: no expiry");
    s.claim_callback(
        &request.reference,
        &UserId("d1".into()),
        &[Desk::Fraud],
        now,
    )
    .await
    .expect("claim");
    s.complete_callback(
        &request.reference,
        &UserId("d1".into()),
        CallbackOutcome::Reached,
        None,
        now,
    )
    .await
    .expect("complete");
    let ttl = pttl(&mut conn, &cb).await;
    assert!(ttl > 0 && ttl <= RETENTION_MS, "{cb}: PTTL {ttl}");
    for key in [
        format!("{prefix}:cbof:r2"),
        format!("{prefix}:cbopen:r2:{}", Desk::Fraud),
        format!("{prefix}:cbdesk:{}", Desk::Fraud),
    ] {
        assert!(!exists(&mut conn, &key).await, "{key} is left behind");
    }
}

/// At most this many keys stay under a hub's prefix once every
/// conversation expired, however many there were (nodes, presence, queues,
/// recent waits).
const IDLE_KEYS: usize = 10;

#[tokio::test]
async fn churn_leaves_redis_as_small_as_it_found_it() {
    const N: usize = 200;
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.hot_retention_ms = 1_500;
    // The one agent sends two frames a round.
    settings.rate_burst = 10_000.0;
    settings.rate_per_sec = 10_000.0;
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut conn = redis_conn(&redis.url()).await;

    // One agent serves about half of them, so routing, agents and waits are used too.
    let mut ag = available_agent(&url, "churn-agent", &["standard"], 1).await;
    let mut last = String::new();
    for i in 0..N {
        let (mut ch, _) =
            Client::connect(&url, &cardholder(&format!("churn-{i}"), "standard")).await;
        ch.send(json!({"type": "start", "topic": "general", "text": "hello"}))
            .await;
        // `queued` may be skipped when the agent takes the chat at once
        // (SPEC), so the first entry names the conversation.
        let first = ch.expect_msg(1).await;
        last = first["conversation"].as_str().expect("id").to_owned();
        if i % 2 == 0 {
            ch.expect("assigned").await;
            ag.expect_where("assigned", |f| f["conversation"] == last.as_str())
                .await;
            ag.send(json!({"type": "say", "conversation": last, "id": "a1", "text": "hi"}))
                .await;
            ch.expect_msg(2).await;
            ag.send(json!({"type": "end", "conversation": last})).await;
            ch.expect("ended").await;
            ag.expect_where("ended", |f| f["conversation"] == last.as_str())
                .await;
        } else {
            // Left at once, queued or just assigned.
            ch.send(json!({"type": "leave"})).await;
            ch.expect("ended").await;
        }
        ch.close().await;
    }
    assert!(
        exists(&mut conn, &format!("{prefix}:conv:{last}")).await,
        "the last conversation is still held right after its end"
    );

    let what = format!("at most {IDLE_KEYS} keys left once {N} conversations expired");
    eventually_within(&what, Duration::from_secs(20), async || {
        let keys = keys_under(&mut conn, &prefix).await;
        if keys.len() <= IDLE_KEYS {
            Ok(())
        } else {
            Err((keys.len(), keys[..keys.len().min(20)].to_vec()))
        }
    })
    .await;
    hub.shutdown().await;
}
