//! Several hub nodes on one Redis.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use serde_json::json;
use switchboard_tests::*;
use tokio::time::Instant;

#[tokio::test]
async fn cardholder_on_one_node_chats_with_agent_on_another() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let b = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let token = cardholder("x-ch", "standard");
    let (mut ch, _) = Client::connect(&a.ws_url(), &token).await;
    let mut ag = available_agent(&b.ws_url(), "x-ag", &["standard"], 1).await;
    let id = paired(&mut ch, &mut ag, "general").await;
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

/// What one agent saw over the run.
#[derive(Debug)]
struct AgentRun {
    /// Its `sub`.
    sub: String,
    /// The `max_chats` the test expects routing to respect.
    max_chats: usize,
    /// Most chats it held at once, counted from its frames.
    max_live: usize,
    /// Every conversation assigned to it, once per `assigned`.
    assigned: Vec<String>,
}

/// How long an agent holds each chat before ending it: long enough that
/// queued cardholders pile up and every agent is offered more chats while
/// it holds some (so `max_chats` is actually tested), short enough for a
/// quick suite.
const HOLD: Duration = Duration::from_millis(50);

/// Runs one agent: it holds every chat for [`HOLD`] and then ends it, and
/// keeps the set of chats it holds from its own frames (`assigned` adds,
/// `ended` for that conversation removes), tracking the largest size.
/// `token_max_chats` is what its token claims; `expected_max_chats` is
/// what the test asserts against (the two differ only to check by hand
/// that an over-assignment would fail the test).
async fn run_agent(
    url: String,
    sub: String,
    token_max_chats: u8,
    expected_max_chats: usize,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> AgentRun {
    let mut a = available_agent(
        &url,
        &sub,
        &["standard", "premium", "business", "prepaid"],
        token_max_chats,
    )
    .await;
    let mut live: HashSet<String> = HashSet::new();
    let mut max_live = 0;
    let mut assigned = Vec::new();
    // Chats to end, in the order their hold expires (HOLD is constant).
    let mut to_end: VecDeque<(Instant, String)> = VecDeque::new();
    let mut stopping = false;
    loop {
        if stopping && live.is_empty() {
            break;
        }
        let next_end = to_end.front().map(|(at, _)| *at);
        tokio::select! {
            frame = a.next_frame() => {
                let f = frame.unwrap_or_else(|c| panic!("{sub} closed: {c:?}"));
                let id = f["conversation"].as_str().unwrap_or_default().to_owned();
                match f["type"].as_str() {
                    Some("assigned") => {
                        assert!(live.insert(id.clone()), "{sub} was assigned {id} twice");
                        max_live = max_live.max(live.len());
                        to_end.push_back((Instant::now() + HOLD, id.clone()));
                        assigned.push(id);
                    }
                    Some("error") => panic!("{sub} got {f}"),
                    Some("ended") => {
                        assert!(live.remove(&id), "{sub} got `ended` for {id}, which it did not hold");
                    }
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(next_end.unwrap_or_else(Instant::now)), if next_end.is_some() => {
                if let Some((_, id)) = to_end.pop_front() {
                    a.send(json!({"type": "end", "conversation": id})).await;
                }
            }
            // Every cardholder saw its `ended`: wait for this agent's last
            // `ended` frames, then stop.
            _ = done.changed(), if !stopping => stopping = true,
            _ = tokio::time::sleep(EVENT_TIMEOUT), if stopping => {
                panic!("{sub} still holds {live:?} after the run");
            }
        }
    }
    AgentRun {
        sub,
        max_chats: expected_max_chats,
        max_live,
        assigned,
    }
}

/// Three nodes, 8 agents and 200 cardholders started concurrently: every
/// conversation assigned exactly once, no agent ever holding more chats at
/// once than its max_chats, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_200_cardholders_8_agents() {
    const CARDHOLDERS: usize = 200;
    const AGENTS: usize = 8;
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    // Each agent sends an `end` every HOLD per slot, well above the
    // default 10 frames/s: the rate limit is not under test here.
    let mut settings = redis_settings(&redis.url(), &prefix);
    settings.rate_burst = 10_000.0;
    settings.rate_per_sec = 10_000.0;
    let mut nodes = Vec::new();
    for n in 0..3 {
        let mut node = settings.clone();
        node.node_id = format!("{prefix}-node-{n}");
        nodes.push(TestHub::spawn(node).await);
    }
    let urls: Vec<String> = nodes.iter().map(TestHub::ws_url).collect();

    // Agents with 1, 2 or 3 slots, spread over the nodes.
    let mut agent_tasks = Vec::new();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    for i in 0..AGENTS {
        let max_chats = 1 + i % 3;
        agent_tasks.push(tokio::spawn(run_agent(
            urls[i % 3].clone(),
            format!("agent-{i}"),
            u8::try_from(max_chats).expect("small"),
            max_chats,
            done_rx.clone(),
        )));
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
    let mut filled = 0;
    for t in agent_tasks {
        let run = t.await.expect("agent finished");
        assert!(
            run.max_live <= run.max_chats,
            "{} held {} chats at once; its max_chats is {}",
            run.sub,
            run.max_live,
            run.max_chats
        );
        if run.max_chats > 1 && run.max_live == run.max_chats {
            filled += 1;
        }
        for id in run.assigned {
            *count.entry(id).or_default() += 1;
        }
    }
    // Otherwise the bound above was never put to the test.
    assert!(
        filled > 0,
        "no agent with several slots ever held a full load"
    );
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
