//! Several hub nodes on one Redis.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use switchboard_tests::*;

#[tokio::test]
async fn cardholder_on_one_node_chats_with_agent_on_another() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let b = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let token = cardholder("x-ch", "standard");
    let (mut ch, _) = Client::connect(&a.ws_url(), &token).await;
    let mut ag = available_agent(&b.ws_url(), "x-ag", &["standard"], 1).await;
    ch.send(json!({"type": "start", "topic": "general"})).await;
    let id = ch.expect("assigned").await["conversation"]
        .as_str()
        .expect("id")
        .to_owned();
    ag.expect("assigned").await;
    ch.send(json!({"type": "say", "id": "1", "text": "from node A"}))
        .await;
    assert_eq!(ag.expect_msg(1).await["text"], "from node A");
    ag.send(json!({"type": "say", "conversation": id, "id": "2", "text": "from node B"}))
        .await;
    assert_eq!(ch.expect_msg(2).await["text"], "from node B");
    // The cardholder's second device, on node B, sees the same conversation.
    let (mut other, welcome) = Client::connect(&b.ws_url(), &token).await;
    assert_eq!(welcome["conversation"]["last_seq"], 2);
    ag.send(json!({"type": "say", "conversation": id, "id": "3", "text": "both devices"}))
        .await;
    assert_eq!(other.expect_msg(3).await["text"], "both devices");
    assert_eq!(ch.expect_msg(3).await["text"], "both devices");
}

/// Three nodes, 8 agents and 200 cardholders started concurrently: every
/// conversation assigned exactly once, no agent above max_chats, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_200_cardholders_8_agents() {
    const CARDHOLDERS: usize = 200;
    const AGENTS: usize = 8;
    const MAX_CHATS: i64 = 3;
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestHub::spawn(redis_settings(&redis.url(), &prefix)).await);
    }
    let urls: Vec<String> = nodes.iter().map(TestHub::ws_url).collect();

    // Agents: each ends every chat right after it is assigned, counting
    // how many it holds at once.
    let mut agent_tasks = Vec::new();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    for i in 0..AGENTS {
        let url = urls[i % 3].clone();
        let mut done = done_rx.clone();
        agent_tasks.push(tokio::spawn(async move {
            let mut a = available_agent(
                &url,
                &format!("agent-{i}"),
                &["standard", "premium", "business", "prepaid"],
                MAX_CHATS as u8,
            )
            .await;
            let mut held: i64 = 0;
            let mut max_held: i64 = 0;
            let mut assigned = Vec::new();
            loop {
                tokio::select! {
                    f = a.expect("assigned") => {
                        held += 1;
                        max_held = max_held.max(held);
                        let id = f["conversation"].as_str().expect("id").to_owned();
                        a.send(json!({"type": "end", "conversation": id})).await;
                        a.expect_where("ended", |e| e["conversation"] == id.as_str()).await;
                        held -= 1;
                        assigned.push(id);
                    }
                    _ = done.changed() => return (assigned, max_held),
                }
            }
        }));
    }

    let tiers = ["standard", "premium", "business", "prepaid"];
    let mut ch_tasks = Vec::new();
    for i in 0..CARDHOLDERS {
        let url = urls[i % 3].clone();
        ch_tasks.push(tokio::spawn(async move {
            let (mut c, _) =
                Client::connect(&url, &cardholder(&format!("card-{i}"), tiers[i % 4])).await;
            c.send(json!({"type": "start", "topic": "general"})).await;
            // `queued` may be skipped when an agent takes the chat at once.
            let assigned = c.expect("assigned").await;
            let id = assigned["conversation"].as_str().expect("id").to_owned();
            let ended = c.expect("ended").await;
            assert_eq!(ended["conversation"], id.as_str());
            id
        }));
    }
    let mut conversations = HashSet::new();
    for t in ch_tasks {
        conversations.insert(t.await.expect("cardholder finished"));
    }
    assert_eq!(
        conversations.len(),
        CARDHOLDERS,
        "every cardholder got its own conversation"
    );
    let _ = done_tx.send(true);
    let mut count: HashMap<String, usize> = HashMap::new();
    for t in agent_tasks {
        let (assigned, max_held) = t.await.expect("agent finished");
        assert!(
            max_held <= MAX_CHATS,
            "an agent held {max_held} chats at once"
        );
        for id in assigned {
            *count.entry(id).or_default() += 1;
        }
    }
    assert_eq!(count.len(), CARDHOLDERS, "no conversation lost");
    assert!(
        count.values().all(|n| *n == 1),
        "every conversation assigned exactly once"
    );
}

#[tokio::test]
async fn a_node_id_cannot_be_used_twice_but_is_free_after_shutdown() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.node_id = "node-one".into();
    let first = TestHub::spawn(settings.clone()).await;
    // Wait until the first node is up and registered.
    let (_c, _) = Client::connect(&first.ws_url(), &cardholder("n1", "standard")).await;
    let err = switchboard::build_hub(settings.clone(), switchboard::CancellationToken::new())
        .await
        .err();
    assert!(
        matches!(err, Some(switchboard::RunError::DuplicateNode(ref id)) if id == "node-one"),
        "{err:?}"
    );
    drop(_c);
    first.shutdown().await;
    let second = TestHub::spawn(settings).await;
    let (_c2, welcome) = Client::connect(&second.ws_url(), &cardholder("n2", "standard")).await;
    assert_eq!(welcome["sub"], "n2");
}
