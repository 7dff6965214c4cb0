//! Secure messaging over the wire: threads left for later, team inboxes,
//! claims across nodes, replies that wait for the cardholder's return.

use serde_json::{json, Value};
use switchboard_tests::*;

/// Leaves a secure message; returns the thread's id (from the `threads` reply).
async fn leave_message(ch: &mut Client, text: &str) -> String {
    ch.send(json!({"type": "start", "topic": "billing", "mode": "message", "text": text}))
        .await;
    let threads = ch.expect("threads").await;
    threads["threads"][0]["conversation"]
        .as_str()
        .expect("the new thread listed first")
        .to_owned()
}

#[tokio::test]
async fn a_message_is_claimed_once_across_nodes_and_its_reply_waits_for_the_cardholder() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let b = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let (mut ag1, _) = Client::connect(&a.ws_url(), &agent("m-ag1", &["standard"], 1)).await;
    let (mut ag2, _) = Client::connect(&b.ws_url(), &agent("m-ag2", &["standard"], 1)).await;
    let (mut ch, welcome) = Client::connect(&a.ws_url(), &cardholder("m-ch", "standard")).await;
    assert_eq!(welcome["threads"], json!([]));
    assert_eq!(welcome["message_reply_within_s"], 86_400);

    let id = leave_message(&mut ch, "Why was I charged twice in March?").await;
    for ag in [&mut ag1, &mut ag2] {
        let item = ag.expect("inbox_item").await;
        assert_eq!(item["change"], "added");
        assert_eq!(item["conversation"], id.as_str());
        assert_eq!(item["item"]["cardholder"]["sub"], "m-ch");
    }
    ag2.send(json!({"type": "inbox", "team": "standard"})).await;
    let inbox = ag2.expect("inbox").await;
    assert_eq!(inbox["items"][0]["conversation"], id.as_str());
    assert_eq!(inbox["items"][0]["topic"], "billing");

    // The cardholder goes; both agents, on two nodes, claim at once.
    ch.close().await;
    let claim = json!({"type": "claim_message", "conversation": id});
    ag1.send(claim.clone()).await;
    ag2.send(claim).await;
    let mut outcomes = Vec::new();
    for ag in [&mut ag1, &mut ag2] {
        let answer = async {
            loop {
                let f = ag.next_frame().await.expect("open connection");
                if f["type"] == "assigned" || f["type"] == "error" {
                    return f;
                }
            }
        };
        let frame = tokio::time::timeout(EVENT_TIMEOUT, answer)
            .await
            .expect("an answer to the claim");
        outcomes.push(frame);
    }
    let winners: Vec<usize> = (0..2)
        .filter(|&i| outcomes[i]["type"] == "assigned")
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {outcomes:?}");
    let loser = &outcomes[1 - winners[0]];
    assert_eq!(loser["code"], "not_allowed", "{loser}");
    let won = &outcomes[winners[0]];
    assert_eq!(
        won["transcript"][0]["text"],
        "Why was I charged twice in March?"
    );
    let winner = if winners[0] == 0 { &mut ag1 } else { &mut ag2 };
    winner
        .say_confirmed(json!({"type": "say", "conversation": id, "id": "r1",
                              "text": "We refunded the second charge."}))
        .await;

    // Back on the other node: the reply is there, unread.
    let (mut ch, welcome) = Client::connect(&b.ws_url(), &cardholder("m-ch", "standard")).await;
    assert_eq!(welcome["conversation"], Value::Null, "no live chat");
    let thread = &welcome["threads"][0];
    assert_eq!(thread["conversation"], id.as_str());
    assert_eq!(
        (thread["status"].as_str(), thread["unread"].as_u64()),
        (Some("active"), Some(1))
    );
    ch.send(json!({"type": "sync", "conversation": id, "after": 0}))
        .await;
    let page = ch.expect("transcript").await;
    assert_eq!(page["entries"][1]["text"], "We refunded the second charge.");
    ch.send(json!({"type": "read", "conversation": id, "seq": 2}))
        .await;
    ch.expect("read").await;
    ch.send(json!({"type": "threads"})).await;
    assert_eq!(ch.expect("threads").await["threads"][0]["unread"], 0);
    // The first reply is timed once, by the node it was written on.
    let (on, off) = if winners[0] == 0 { (&a, &b) } else { (&b, &a) };
    let first_reply = "switchboard_message_first_reply_seconds_count";
    assert_eq!(metric(on, first_reply, &[("tier", "standard")]).await, 1.0);
    assert_eq!(
        scrape(off).await.get(first_reply, &[("tier", "standard")]),
        None
    );

    // Resolved, then the cardholder's reply reopens it into the inbox.
    winner
        .send(json!({"type": "resolve", "conversation": id}))
        .await;
    let ended = ch.expect("ended").await;
    assert_eq!(ended["reason"], "resolved");
    let msg = ch
        .say_confirmed(json!({"type": "say", "conversation": id, "id": "k2",
                              "text": "Thanks, and the fee?"}))
        .await;
    assert_eq!(msg["seq"], 3, "the thread keeps its seqs");
    for ag in [&mut ag1, &mut ag2] {
        ag.expect_where("inbox_item", |f| f["change"] == "added")
            .await;
    }
    ch.send(json!({"type": "threads"})).await;
    assert_eq!(ch.expect("threads").await["threads"][0]["status"], "queued");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn five_open_messages_at_most_and_a_live_chat_besides() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("cap-ch", "premium")).await;
    for i in 0..5 {
        leave_message(&mut ch, &format!("question {i}")).await;
    }
    ch.send(json!({"type": "start", "topic": "billing", "mode": "message", "text": "one more"}))
        .await;
    let refused = ch.expect("error").await;
    assert_eq!(refused["code"], "not_allowed");
    assert!(
        refused["message"].as_str().unwrap_or("").contains("5 open"),
        "{refused}"
    );
    ch.send(json!({"type": "start", "topic": "billing", "mode": "message"}))
        .await;
    assert_eq!(
        ch.expect("error").await["code"],
        "bad_field",
        "a message needs text"
    );
    ch.send(json!({"type": "start", "topic": "billing"})).await;
    ch.expect("queued").await;
    let (_again, welcome) = Client::connect(&hub.ws_url(), &cardholder("cap-ch", "premium")).await;
    assert_eq!(welcome["threads"].as_array().map(Vec::len), Some(5));
    assert_eq!(welcome["message_reply_within_s"], 14_400, "premium: 4 h");
    assert_eq!(welcome["conversation"]["status"], "queued", "the live chat");
    hub.shutdown().await;
}

#[tokio::test]
async fn business_messages_stay_in_the_business_inbox() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("biz-ch", "business")).await;
    let (mut general, _) =
        Client::connect(&hub.ws_url(), &agent("gen-ag", &["standard", "premium"], 2)).await;
    let (mut spec, _) = Client::connect(&hub.ws_url(), &agent("biz-ag", &["business"], 2)).await;
    let id = leave_message(&mut ch, "Raise my company card limit").await;
    spec.expect("inbox_item").await;
    eventually("the business inbox depth in /metrics", || async {
        scrape(&hub)
            .await
            .get("switchboard_inbox_depth", &[("tier", "business")])
            == Some(1.0)
    })
    .await;
    general
        .expect_none("inbox_item", std::time::Duration::from_millis(200))
        .await;
    general
        .send(json!({"type": "inbox", "team": "business"}))
        .await;
    assert_eq!(general.expect("error").await["code"], "not_allowed");
    general
        .send(json!({"type": "claim_message", "conversation": id}))
        .await;
    assert_eq!(general.expect("error").await["code"], "no_conversation");
    spec.send(json!({"type": "claim_message", "conversation": id}))
        .await;
    let assigned = spec.expect("assigned").await;
    assert_eq!(assigned["cardholder"]["tier"], "business");
    assert_eq!(ch.expect("assigned").await["conversation"], id.as_str());
    hub.shutdown().await;
}

/// Archived rows of a conversation: (conversations, transcript entries).
async fn archived_rows(db: &switchboard_tests::postgres::PgDatabase, id: &str) -> (i64, i64) {
    (
        db.count(
            "SELECT 1 FROM conversations WHERE id = $1 AND kind = 'message'",
            &[&id],
        )
        .await,
        db.count(
            "SELECT 1 FROM transcript_entries WHERE conversation = $1",
            &[&id],
        )
        .await,
    )
}

#[tokio::test]
async fn a_resolved_message_is_archived_and_again_with_what_came_after_a_reopen() {
    let redis = RedisServer::start();
    let db = switchboard_tests::postgres::PgDatabase::create().await;
    let prefix = unique_prefix();
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.archive =
        Some(switchboard::config::archive_settings(&db.url(), 30).expect("archive url"));
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let (mut ag, _) = Client::connect(&url, &agent("arc-m-ag", &["standard"], 1)).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("arc-m-ch", "standard")).await;
    let id = leave_message(&mut ch, "First question").await;
    for round in 1..=2 {
        ag.send(json!({"type": "claim_message", "conversation": id}))
            .await;
        ag.expect_where("assigned", |f| f["kind"] == "message")
            .await;
        ag.say_confirmed(
            json!({"type": "say", "conversation": id, "id": format!("r{round}"),
                                "text": format!("Answer {round}")}),
        )
        .await;
        ag.send(json!({"type": "resolve", "conversation": id}))
            .await;
        ag.expect_where("ended", |f| f["reason"] == "resolved")
            .await;
        eventually("the resolved thread is archived", || async {
            archived_rows(&db, &id).await == (1, 2 * round)
        })
        .await;
        if round == 1 {
            ch.say_confirmed(json!({"type": "say", "conversation": id, "id": "k2",
                                    "text": "Second question"}))
                .await;
            ag.expect_where("inbox_item", |f| {
                f["change"] == "added" && f["conversation"] == id.as_str()
            })
            .await;
        }
    }
    let key = format!("{prefix}:conv:{id}");
    eventually("the resolved thread expires after the retention", || {
        let (url, key) = (redis.url(), key.clone());
        async move { pttl(&mut redis_conn(&url).await, &key).await > 0 }
    })
    .await;
    let pg = db.client().await;
    let row = pg
        .query_one(
            "SELECT end_reason, agent_name FROM conversations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>("end_reason"), "resolved");
    assert_eq!(
        row.get::<_, Option<String>>("agent_name").as_deref(),
        Some("Agent arc-m-ag")
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_resent_message_start_opens_one_thread_with_one_first_message() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("rs-1", "standard")).await;
    let start = json!({"type": "start", "topic": "billing", "mode": "message",
                       "text": "Was I charged twice?", "id": "t-key-1"});
    // Sent twice, as a client does after `unavailable`.
    ch.send(start.clone()).await;
    let first = ch.expect("threads").await;
    ch.send(start).await;
    let second = ch.expect("threads").await;
    assert_eq!(first["threads"], second["threads"], "{second}");
    let threads = second["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 1, "{second}");
    let id = threads[0]["conversation"].as_str().expect("id").to_owned();
    // A fresh connection reads the stored thread: one entry.
    let (mut reader, _) = Client::connect(&hub.ws_url(), &cardholder("rs-1", "standard")).await;
    reader
        .send(json!({"type": "sync", "conversation": id, "after": 0}))
        .await;
    let page = reader.expect("transcript").await;
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["entries"][0]["id"], "t-key-1");
    // Another cardholder's same key opens a thread of their own.
    let (mut other, _) = Client::connect(&hub.ws_url(), &cardholder("rs-2", "standard")).await;
    other
        .send(
            json!({"type": "start", "topic": "billing", "mode": "message",
                     "text": "Mine", "id": "t-key-1"}),
        )
        .await;
    let theirs = other.expect("threads").await;
    assert_ne!(theirs["threads"][0]["conversation"], id.as_str());
}
