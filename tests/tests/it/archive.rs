//! The durable archive on real PostgreSQL: ended chats and closed callback
//! requests are archived exactly once with their masked transcripts, Redis
//! keys expire only after that, an outage loses nothing, a dead archiver's
//! entries are taken over, the purge keeps what is young, the export says
//! everything about one cardholder; and history reaches only its owner.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::archive::postgres::PgArchive;
use switchboard::archive::Archive;
use switchboard::archiver::Archiver;
use switchboard::config::{archive_settings, export_json};
use switchboard::domain::{now_millis, UserId};
use switchboard::metrics::Metrics;
use switchboard::settings::Settings;
use switchboard::store::redis::RedisStore;
use switchboard_tests::postgres::{PgDatabase, TcpProxy};
use switchboard_tests::*;

/// Long enough for the archiver to notice anything (it polls every 250 ms
/// and backs off at most 5 s after a failure).
const ARCHIVED_WITHIN: Duration = Duration::from_secs(20);

/// A card number as typed, and how the hub stores it.
const CARD: &str = "4111 1111 1111 1111";

fn archived_settings(redis: &RedisServer, prefix: &str, url: &str) -> Settings {
    let mut s = redis_settings(&redis.url(), prefix);
    s.archive = Some(archive_settings(url, 30).expect("archive url"));
    s
}

/// `XPENDING <stream> <group>`: count, lowest and highest id, and the
/// pending count per consumer.
type PendingSummary = (i64, Option<String>, Option<String>, Vec<(String, String)>);

async fn stream_len(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> i64 {
    redis::cmd("XLEN")
        .arg(format!("{prefix}:archive"))
        .query_async(conn)
        .await
        .expect("XLEN")
}

async fn rows(db: &PgDatabase, id: &str) -> (i64, i64) {
    (
        db.count("SELECT 1 FROM conversations WHERE id = $1", &[&id])
            .await,
        db.count(
            "SELECT 1 FROM transcript_entries WHERE conversation = $1",
            &[&id],
        )
        .await,
    )
}

/// A chat paired, one message from each side (the cardholder's holds a
/// card number), ended by the agent; its id.
async fn chat_ended_by_agent(url: &str, sub: &str, agent_sub: &str) -> String {
    let (mut ag, _) = Client::connect(url, &agent(agent_sub, &["standard"], 1)).await;
    ag.send(json!({"type": "status", "state": "available"}))
        .await;
    let (mut ch, _) = Client::connect(url, &cardholder(sub, "standard")).await;
    let id = paired(&mut ch, &mut ag, "billing").await;
    ch.send(json!({"type": "say", "id": "c1", "text": format!("my card is {CARD}")}))
        .await;
    ag.expect_where("msg", |f| f["from"] == "cardholder").await;
    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Thanks, looking."}))
        .await;
    ch.expect_where("msg", |f| f["from"] == "agent").await;
    ag.send(json!({"type": "end", "conversation": id})).await;
    ch.expect("ended").await;
    id
}

#[tokio::test]
async fn ended_chat_and_closed_callback_are_archived_once_then_expire() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url())).await;
    let url = hub.ws_url();
    let id = chat_ended_by_agent(&url, "arc-1", "arc-agent").await;

    eventually("the chat is archived", || async {
        rows(&db, &id).await == (1, 2)
    })
    .await;
    let pg = db.client().await;
    let row = pg
        .query_one(
            "SELECT sub, end_reason, agent, agent_name, tier, topic, rating FROM conversations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>("sub"), "arc-1");
    assert_eq!(row.get::<_, String>("end_reason"), "agent_ended");
    assert_eq!(
        row.get::<_, Option<String>>("agent").as_deref(),
        Some("arc-agent")
    );
    assert_eq!(
        row.get::<_, Option<String>>("agent_name").as_deref(),
        Some("Agent arc-agent")
    );
    assert_eq!(row.get::<_, Option<i16>>("rating"), None);
    let texts: Vec<String> = pg
        .query(
            "SELECT text FROM transcript_entries WHERE conversation = $1 ORDER BY seq",
            &[&id],
        )
        .await
        .expect("entries")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        texts[0].contains("1111") && !texts[0].contains(CARD),
        "masked: {texts:?}"
    );
    assert_eq!(texts[1], "Thanks, looking.");

    // Archived, the keys expire after the hot retention; the stream is empty.
    let mut conn = redis_conn(&redis.url()).await;
    eventually("the stream is drained", || async {
        stream_len(&mut conn.clone(), &prefix).await == 0
    })
    .await;
    for key in [format!("{prefix}:conv:{id}"), format!("{prefix}:tx:{id}")] {
        let ttl = pttl(&mut conn, &key).await;
        assert!(ttl > 0, "{key} expires once archived: PTTL {ttl}");
    }

    // A callback request: archived when it closes.
    let (mut ch, _) = Client::connect(&url, &cardholder("arc-2", "standard")).await;
    ch.send(json!({"type": "start", "topic": "locked_account"}))
        .await;
    let reference = ch.expect("escalated").await["callback"]["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    let (mut desk, _) =
        Client::connect(&url, &agent("arc-desk", &["standard", "identity"], 1)).await;
    desk.send(json!({"type": "claim_callback", "ref": reference}))
        .await;
    desk.expect_where("callback", |f| f["request"]["status"] == "claimed")
        .await;
    desk.send(json!({"type": "complete_callback", "ref": reference, "outcome": "reached"}))
        .await;
    desk.expect_where("callback", |f| f["request"]["status"] == "reached")
        .await;
    eventually("the request is archived", || async {
        db.count(
            "SELECT 1 FROM callback_requests WHERE ref = $1 AND status = 'reached' AND sub = 'arc-2'",
            &[&reference],
        )
        .await
            == 1
    })
    .await;
    // The escalated chat names its request.
    eventually("the escalated chat is archived", || async {
        db.count(
            "SELECT 1 FROM conversations WHERE sub = 'arc-2' AND end_reason = 'escalated' AND callback_ref = $1",
            &[&reference],
        )
        .await
            == 1
    })
    .await;
    let ttl = pttl(&mut conn, &format!("{prefix}:cb:{reference}")).await;
    assert!(ttl > 0, "the closed request expires once archived: {ttl}");
    assert!(
        metric(
            &hub,
            "switchboard_archived_total",
            &[("kind", "conversation")]
        )
        .await
            >= 2.0
    );
    assert_eq!(
        metric(&hub, "switchboard_archived_total", &[("kind", "callback")]).await,
        1.0
    );
}

#[tokio::test]
async fn postgres_outage_loses_nothing_and_the_backlog_drains() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let proxy = TcpProxy::to_postgres().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url_via(proxy.port))).await;
    let url = hub.ws_url();
    let first = chat_ended_by_agent(&url, "out-0", "out-agent-0").await;
    eventually("archiving works before the outage", || async {
        rows(&db, &first).await == (1, 2)
    })
    .await;

    proxy.cut();
    let mut ids = Vec::new();
    for i in 1..=3 {
        ids.push(chat_ended_by_agent(&url, &format!("out-{i}"), &format!("out-agent-{i}")).await);
    }
    eventually("the backlog shows in /metrics", || async {
        metric(&hub, "switchboard_archive_backlog", &[]).await == 3.0
    })
    .await;
    eventually("a failed write is counted", || async {
        metric(&hub, "switchboard_archive_write_failures_total", &[]).await >= 1.0
    })
    .await;
    let (status, body) = http_get(&hub.http_url("/readyz")).await;
    let body: Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(status, 200, "live chat stays up: {body}");
    assert_eq!(body["archive"]["status"], "degraded", "{body}");
    assert_eq!(body["archive"]["backlog"], 3, "{body}");
    // Nothing expires before it is archived.
    let mut conn = redis_conn(&redis.url()).await;
    for id in &ids {
        assert_eq!(
            pttl(&mut conn, &format!("{prefix}:conv:{id}")).await,
            -1,
            "{id}"
        );
        assert_eq!(
            pttl(&mut conn, &format!("{prefix}:tx:{id}")).await,
            -1,
            "{id}"
        );
    }
    assert_eq!(stream_len(&mut conn, &prefix).await, 3);

    proxy.restore();
    for id in &ids {
        eventually("the backlog drains", || async {
            rows(&db, id).await == (1, 2)
        })
        .await;
    }
    eventually("the backlog is empty", || async {
        metric(&hub, "switchboard_archive_backlog", &[]).await == 0.0
            && stream_len(&mut conn.clone(), &prefix).await == 0
    })
    .await;
    for id in &ids {
        assert!(
            pttl(&mut conn, &format!("{prefix}:conv:{id}")).await > 0,
            "{id}"
        );
    }
    let (_, body) = http_get(&hub.http_url("/readyz")).await;
    let body: Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(body["archive"]["status"], "ok", "{body}");
}

#[tokio::test]
async fn an_archiver_that_died_before_acknowledging_is_taken_over_and_archived_once() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let proxy = TcpProxy::to_postgres().await;
    let prefix = unique_prefix();
    let mut settings = archived_settings(&redis, &prefix, &db.url_via(proxy.port));
    let dying_node = settings.node_id.clone();
    let mut dying = TestHub::spawn_killable(settings.clone()).await;
    let warm = chat_ended_by_agent(&dying.ws_url(), "die-0", "die-agent-0").await;
    eventually("archiving works", || async {
        rows(&db, &warm).await == (1, 2)
    })
    .await;

    // The node's archiver takes the next chat but cannot write it.
    proxy.cut();
    let id = chat_ended_by_agent(&dying.ws_url(), "die-1", "die-agent-1").await;
    let mut conn = redis_conn(&redis.url()).await;
    eventually("the entry is pending for the node", || async {
        let pending: Vec<Value> = Vec::new();
        let _ = pending;
        let summary: PendingSummary = redis::cmd("XPENDING")
            .arg(format!("{prefix}:archive"))
            .arg(switchboard::store::redis::handover::ARCHIVE_GROUP)
            .query_async(&mut conn.clone())
            .await
            .unwrap_or((0, None, None, Vec::new()));
        summary.3.iter().any(|(c, _)| c == &dying_node)
    })
    .await;

    // Its commit step runs (the database has the chat), then it dies
    // before acknowledging.
    let store = RedisStore::connect(&redis.url(), &prefix, &dying_node, 60_000)
        .await
        .expect("connect");
    let archive = PgArchive::new(&db.url()).expect("archive");
    let archiver = Archiver::new(
        store.clone(),
        archive,
        Metrics::new(),
        Duration::from_secs(60),
    );
    let batch = store
        .take_handovers(10, 60_000, now_millis())
        .await
        .expect("take");
    assert_eq!(batch.items.len(), 1, "the node's own pending entry");
    archiver.commit(&batch.items[0]).await.expect("commit");
    dying.kill();
    assert_eq!(rows(&db, &id).await, (1, 2));
    assert_eq!(stream_len(&mut conn, &prefix).await, 1, "not acknowledged");

    // Another node takes the idle entry over: written again, stored once.
    settings.node_id = format!("{dying_node}-heir");
    settings.archive = Some(switchboard::settings::ArchiveSettings {
        url: db.url(),
        retention_days: 30,
        claim_idle: Duration::from_millis(300),
    });
    let heir = TestHub::spawn(settings).await;
    eventually("the heir acknowledges the entry", || async {
        stream_len(&mut conn.clone(), &prefix).await == 0
    })
    .await;
    assert_eq!(rows(&db, &id).await, (1, 2), "archived exactly once");
    assert!(pttl(&mut conn, &format!("{prefix}:conv:{id}")).await > 0);
    assert!(
        metric(
            &heir,
            "switchboard_archived_total",
            &[("kind", "conversation")]
        )
        .await
            >= 1.0
    );
}

#[tokio::test]
async fn purge_removes_only_rows_past_the_retention_and_export_tells_everything() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url())).await;
    let url = hub.ws_url();
    let old = chat_ended_by_agent(&url, "exp-1", "exp-agent").await;
    let young = chat_ended_by_agent(&url, "exp-1", "exp-agent").await;
    for id in [&old, &young] {
        eventually("archived", || async { rows(&db, id).await == (1, 2) }).await;
    }

    let json = export_json(&db.url(), &UserId("exp-1".into()))
        .await
        .expect("export");
    let export: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(export["sub"], "exp-1");
    let conversations = export["conversations"].as_array().expect("list");
    assert_eq!(conversations.len(), 2, "{export}");
    assert_eq!(conversations[0]["id"], old.as_str(), "oldest first");
    assert_eq!(conversations[0]["kind"], "chat");
    assert_eq!(conversations[0]["end_reason"], "agent_ended");
    assert_eq!(
        conversations[0]["transcript"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(!json.contains(CARD), "the export holds masked text only");
    let nobody = export_json(&db.url(), &UserId("exp-nobody".into()))
        .await
        .expect("export");
    let nobody: Value = serde_json::from_str(&nobody).expect("JSON");
    assert_eq!(nobody["conversations"], json!([]));

    // Age the first chat ten days; a 5-day retention purges it alone.
    db.client()
        .await
        .execute(
            "UPDATE conversations SET ended_at = ended_at - interval '10 days' WHERE id = $1",
            &[&old],
        )
        .await
        .expect("age");
    let archive = PgArchive::new(&db.url()).expect("archive");
    let cutoff = switchboard::archive::retention_cutoff(now_millis(), 5);
    assert_eq!(archive.purge(cutoff).await.expect("purge"), 1);
    assert_eq!(rows(&db, &old).await, (0, 0), "gone with its transcript");
    assert_eq!(rows(&db, &young).await, (1, 2), "the young one stays");
    assert_eq!(archive.purge(cutoff).await.expect("purge"), 0);
}

/// Two past chats of `sub` and one of `other`, each ended by `agent_sub`
/// (who serves standard); their ids, newest first for `sub`.
async fn past_chats(url: &str, sub: &str, other: &str, agent_sub: &str) -> (Vec<String>, String) {
    let first = chat_ended_by_agent(url, sub, agent_sub).await;
    let second = chat_ended_by_agent(url, sub, agent_sub).await;
    let theirs = chat_ended_by_agent(url, other, agent_sub).await;
    (vec![second, first], theirs)
}

/// The conversation ids of a `history` frame.
fn ids(history: &Value) -> Vec<String> {
    history["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Asks for the cardholder's history until it lists `n` conversations (the
/// archive may lag the end by a moment).
async fn history_of(ch: &mut Client, n: usize) -> Value {
    let what = format!("history lists {n} conversations");
    eventually_within(&what, ARCHIVED_WITHIN, async || {
        ch.send(json!({"type": "history"})).await;
        let history = ch.expect("history").await;
        if ids(&history).len() == n {
            Ok(history)
        } else {
            Err(history)
        }
    })
    .await
}

async fn history_rules(settings: Settings) {
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mine, theirs) = past_chats(&url, "his-a", "his-b", "his-agent").await;
    let (mut ch, _) = Client::connect(&url, &cardholder("his-a", "standard")).await;

    // Own history, newest first, paged.
    let history = history_of(&mut ch, 2).await;
    assert_eq!(ids(&history), mine);
    assert_eq!(history["more"], false);
    let first = &history["conversations"][0];
    assert_eq!(
        (
            first["kind"].as_str(),
            first["topic"].as_str(),
            first["end_reason"].as_str()
        ),
        (Some("chat"), Some("billing"), Some("agent_ended"))
    );
    assert_eq!(first["agent_name"], "Agent his-agent");
    assert!(first["started_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    ch.send(json!({"type": "history", "limit": 1})).await;
    let page = ch.expect("history").await;
    assert_eq!(
        (ids(&page), page["more"].clone()),
        (vec![mine[0].clone()], json!(true))
    );
    ch.send(json!({"type": "history", "limit": 1, "before": mine[0]}))
        .await;
    let page = ch.expect("history").await;
    assert_eq!(
        (ids(&page), page["more"].clone()),
        (vec![mine[1].clone()], json!(false))
    );

    // Own transcript (masked), paged after a seq; not somebody else's.
    ch.send(json!({"type": "transcript", "conversation": mine[1]}))
        .await;
    let t = ch.expect("transcript").await;
    assert_eq!(t["conversation"], mine[1].as_str());
    assert_eq!(t["entries"].as_array().map(Vec::len), Some(2));
    assert!(!t.to_string().contains(CARD));
    assert_eq!(t["more"], false);
    ch.send(json!({"type": "transcript", "conversation": mine[1], "after": 1}))
        .await;
    let t = ch.expect("transcript").await;
    assert_eq!(t["entries"][0]["seq"], 2);
    ch.send(json!({"type": "transcript", "conversation": theirs}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "no_conversation");
    // An id of the hub's shape that nobody was given; a malformed one is a
    // `bad_field` before anything is looked up (`ids.rs`).
    ch.send(json!({"type": "transcript", "conversation": "c-00000000000000000000000000000000"}))
        .await;
    assert_eq!(ch.expect("error").await["code"], "no_conversation");

    // A new chat: its agent sees the last conversations in `assigned`.
    let (mut ag, _) = Client::connect(&url, &agent("his-agent-2", &["standard"], 1)).await;
    ag.send(json!({"type": "status", "state": "available"}))
        .await;
    ch.send(json!({"type": "start", "topic": "general"})).await;
    let assigned = ag.expect("assigned").await;
    let current = assigned["conversation"].as_str().expect("id").to_owned();
    let shown: Vec<String> = assigned["history"]
        .as_array()
        .expect("assigned.history")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        shown, mine,
        "the cardholder's last conversations, newest first"
    );
    ch.expect("assigned").await;

    // The agent reads that cardholder's history and transcripts, no one else's.
    ag.send(json!({"type": "history", "conversation": current}))
        .await;
    let h = ag.expect("history").await;
    assert_eq!(
        (ids(&h), h["conversation"].clone()),
        (mine.clone(), json!(current))
    );
    ag.send(json!({"type": "transcript", "conversation": mine[0]}))
        .await;
    assert_eq!(
        ag.expect("transcript").await["entries"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    ag.send(json!({"type": "transcript", "conversation": theirs}))
        .await;
    assert_eq!(ag.expect("error").await["code"], "not_allowed");
    ag.send(json!({"type": "history", "conversation": theirs}))
        .await;
    assert_eq!(ag.expect("error").await["code"], "not_allowed");
    ag.send(json!({"type": "history"})).await;
    assert_eq!(ag.expect("error").await["code"], "bad_field");
    // Another agent, not serving this cardholder, gets nothing.
    let (mut stranger, _) = Client::connect(&url, &agent("his-stranger", &["standard"], 1)).await;
    stranger
        .send(json!({"type": "history", "conversation": current}))
        .await;
    assert_eq!(stranger.expect("error").await["code"], "not_allowed");
    stranger
        .send(json!({"type": "transcript", "conversation": mine[0]}))
        .await;
    assert_eq!(stranger.expect("error").await["code"], "not_allowed");
    // The other cardholder sees only their own.
    let (mut other, _) = Client::connect(&url, &cardholder("his-b", "standard")).await;
    assert_eq!(ids(&history_of(&mut other, 1).await), vec![theirs]);
}

#[tokio::test]
async fn history_reaches_only_its_owner_on_the_memory_engine() {
    history_rules(memory_settings()).await;
}

#[tokio::test]
async fn history_reaches_only_its_owner_from_postgres() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    history_rules(archived_settings(&redis, &unique_prefix(), &db.url())).await;
}

/// A secure-message thread of `sub` left, claimed by `agent_sub`, answered
/// and resolved; its id.
async fn thread_resolved(url: &str, sub: &str, agent_sub: &str) -> String {
    let (mut ag, _) = Client::connect(url, &agent(agent_sub, &["standard"], 1)).await;
    let (mut ch, _) = Client::connect(url, &cardholder(sub, "standard")).await;
    ch.send(
        json!({"type": "start", "topic": "billing", "mode": "message",
                   "text": "Why was I charged twice in March?"}),
    )
    .await;
    let threads = ch.expect("threads").await;
    let id = threads["threads"][0]["conversation"]
        .as_str()
        .expect("the new thread")
        .to_owned();
    ag.expect_where("inbox_item", |f| f["conversation"] == id.as_str())
        .await;
    ag.send(json!({"type": "claim_message", "conversation": id}))
        .await;
    ag.expect_where("assigned", |f| f["conversation"] == id.as_str())
        .await;
    ag.say_confirmed(json!({"type": "say", "conversation": id, "id": "r1",
                            "text": "We refunded the second charge."}))
        .await;
    ag.send(json!({"type": "resolve", "conversation": id}))
        .await;
    for side in [&mut ag, &mut ch] {
        side.expect_where("ended", |f| {
            f["conversation"] == id.as_str() && f["reason"] == "resolved"
        })
        .await;
    }
    id
}

/// A cardholder with a past chat and a resolved secure-message thread sees
/// both in `history`, each named by its kind (`chat`, `message`).
async fn history_names_each_kind(settings: Settings) {
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let chat = chat_ended_by_agent(&url, "kind-ch", "kind-chat-agent").await;
    let thread = thread_resolved(&url, "kind-ch", "kind-thread-agent").await;
    let (mut ch, _) = Client::connect(&url, &cardholder("kind-ch", "standard")).await;
    let history = history_of(&mut ch, 2).await;
    let listed: Vec<(&str, &str, &str, &str)> = history["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default(),
                c["kind"].as_str().unwrap_or_default(),
                c["end_reason"].as_str().unwrap_or_default(),
                c["agent_name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                thread.as_str(),
                "message",
                "resolved",
                "Agent kind-thread-agent"
            ),
            (
                chat.as_str(),
                "chat",
                "agent_ended",
                "Agent kind-chat-agent"
            ),
        ],
        "newest first, each with its kind: {history}"
    );
}

#[tokio::test]
async fn history_names_a_secure_message_thread_a_message_on_the_memory_engine() {
    history_names_each_kind(memory_settings()).await;
}

#[tokio::test]
async fn history_names_a_secure_message_thread_a_message_from_postgres() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    history_names_each_kind(archived_settings(&redis, &unique_prefix(), &db.url())).await;
}

#[tokio::test]
async fn without_an_archive_redis_keeps_no_history() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let url = hub.ws_url();
    let id = chat_ended_by_agent(&url, "none-1", "none-agent").await;
    let (mut ch, _) = Client::connect(&url, &cardholder("none-1", "standard")).await;
    ch.send(json!({"type": "history"})).await;
    assert_eq!(ch.expect("history").await["conversations"], json!([]));
    // Still hot in Redis: its transcript can be read until it expires.
    ch.send(json!({"type": "transcript", "conversation": id}))
        .await;
    assert_eq!(
        ch.expect("transcript").await["entries"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let mut conn = redis_conn(&redis.url()).await;
    assert_eq!(stream_len(&mut conn, &prefix).await, 0, "no archive stream");
    assert!(pttl(&mut conn, &format!("{prefix}:conv:{id}")).await > 0);
}

#[tokio::test]
async fn a_rating_given_after_archiving_updates_the_archived_row_once() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url())).await;
    let url = hub.ws_url();
    let id = chat_ended_by_agent(&url, "arc-rate", "arc-rate-agent").await;
    eventually("the chat is archived", || async {
        rows(&db, &id).await == (1, 2)
    })
    .await;

    let (mut ch, _) = Client::connect(&url, &cardholder("arc-rate", "standard")).await;
    ch.send(json!({"type": "rate", "conversation": id, "score": 2,
                   "comment": format!("slow; card {CARD}")}))
        .await;
    ch.expect("rated").await;
    let pg = db.client().await;
    let rated = || async {
        pg.query_one(
            "SELECT rating, rating_comment, rated_at IS NOT NULL AS dated FROM conversations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row")
    };
    eventually("the archived row has the rating", || async {
        rated().await.get::<_, Option<i16>>("rating") == Some(2)
    })
    .await;
    let row = rated().await;
    let comment: Option<String> = row.get("rating_comment");
    let comment = comment.expect("a comment");
    assert!(
        comment.starts_with("slow; card") && !comment.contains(CARD),
        "masked: {comment}"
    );
    assert!(row.get::<_, bool>("dated"));
    assert_eq!(
        rows(&db, &id).await,
        (1, 2),
        "archived once, transcript once"
    );
    let conn = redis_conn(&redis.url()).await;
    eventually("the second hand-over is done", || async {
        stream_len(&mut conn.clone(), &prefix).await == 0
    })
    .await;
    hub.shutdown().await;
}

#[tokio::test]
async fn internal_notes_and_transfer_notes_are_archived_with_the_chat() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url())).await;
    let url = hub.ws_url();
    let mut first = available_agent(&url, "arc-n1", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("arc-notes", "standard")).await;
    let id = paired(&mut ch, &mut first, "billing").await;
    first
        .send(json!({"type": "note", "conversation": id, "text": format!("card {CARD} seen")}))
        .await;
    first.expect("note").await;
    first
        .send(json!({"type": "transfer", "conversation": id, "tier": "premium", "note": "VIP"}))
        .await;
    first.expect("ended").await;
    let mut next = available_agent(&url, "arc-n2", &["premium"], 1).await;
    next.expect_where("assigned", |f| f["conversation"] == id.as_str())
        .await;
    next.send(json!({"type": "end", "conversation": id})).await;
    ch.expect_where("ended", |f| f["reason"] == "agent_ended")
        .await;

    eventually("the chat is archived", || async {
        db.count("SELECT 1 FROM conversations WHERE id = $1", &[&id])
            .await
            == 1
    })
    .await;
    let row = db
        .client()
        .await
        .query_one(
            "SELECT notes, transfers FROM conversations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    let notes: Value = row.get("notes");
    let transfers: Value = row.get("transfers");
    let text = notes[0]["text"].as_str().expect("a note");
    assert!(
        text.starts_with("card ") && !text.contains(CARD),
        "masked: {notes}"
    );
    assert_eq!(notes[0]["by"], "arc-n1");
    assert_eq!(transfers[0]["note"], "VIP", "{transfers}");
    assert_eq!(transfers[0]["from_tier"], "standard");
    hub.shutdown().await;
}

#[tokio::test]
async fn supervisor_actions_are_archived_once() {
    let redis = RedisServer::start();
    let db = PgDatabase::create().await;
    let prefix = unique_prefix();
    let hub = TestHub::spawn(archived_settings(&redis, &prefix, &db.url())).await;
    let url = hub.ws_url();
    let (mut ag, _) = Client::connect(&url, &agent("au-ag", &["standard"], 1)).await;
    ag.send(json!({"type": "status", "state": "available"}))
        .await;
    let sup_token = token(
        json!({"sub": "au-sup", "role": "supervisor", "teams": ["standard"], "name": "Sue Pervisor"}),
    );
    let (mut sup, _) = Client::connect(&url, &sup_token).await;
    sup.send(json!({"type": "set_agent_state", "agent": "au-ag", "state": "away"}))
        .await;
    assert_eq!(ag.expect("status").await["state"], "away");
    eventually("the action is archived", || async {
        db.count(
            "SELECT 1 FROM supervisor_audit WHERE supervisor = 'au-sup' AND action = 'set_agent_state' AND target = 'au-ag'",
            &[],
        )
        .await
            == 1
    })
    .await;
    let conn = redis_conn(&redis.url()).await;
    eventually("the stream is drained", || async {
        stream_len(&mut conn.clone(), &prefix).await == 0
    })
    .await;
    assert_eq!(
        db.count("SELECT 1 FROM supervisor_audit", &[]).await,
        1,
        "archived once"
    );
}
