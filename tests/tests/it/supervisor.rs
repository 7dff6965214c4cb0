//! The supervisor console: a live overview of the supervised teams, agent
//! states set by a supervisor, chats reassigned, every action audited; all
//! bounded by the teams the supervisor's token names.

use serde_json::{json, Value};
use switchboard_tests::*;

fn supervisor(sub: &str, teams: &[&str]) -> String {
    token(
        json!({"sub": sub, "role": "supervisor", "teams": teams, "name": format!("Supervisor {sub}")}),
    )
}

fn agent_line<'a>(overview: &'a Value, sub: &str) -> &'a Value {
    overview["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["sub"] == sub))
        .unwrap_or_else(|| panic!("{sub} in the overview: {overview}"))
}

/// The texts of a `transcript` page's entries, in order.
fn entry_texts(page: &Value) -> Vec<&str> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect()
}

/// Asks to monitor chat `id` and waits for its transcript page.
async fn monitor(sup: &mut Client, id: &str) -> Value {
    sup.send(json!({"type": "monitor", "conversation": id}))
        .await;
    sup.expect("transcript").await
}

/// A chat of `team` between agent `<p>-ag` (who takes `max_chats`) and
/// cardholder `<p>-ch`, monitored by supervisor `<p>-sup` of that team:
/// (agent, cardholder, chat, supervisor).
async fn monitored_chat(
    url: &str,
    p: &str,
    team: &str,
    max_chats: u8,
) -> (Client, Client, String, Client) {
    let mut ag = available_agent(url, &format!("{p}-ag"), &[team], max_chats).await;
    let (mut ch, _) = Client::connect(url, &cardholder(&format!("{p}-ch"), team)).await;
    let id = paired(&mut ch, &mut ag, "billing").await;
    let (mut sup, _) = Client::connect(url, &supervisor(&format!("{p}-sup"), &[team])).await;
    monitor(&mut sup, &id).await;
    (ag, ch, id, sup)
}

#[tokio::test]
async fn a_supervisor_watches_sets_agents_away_and_reassigns_chats_all_audited() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let mut ag1 = available_agent(&url, "sv-ag1", &["standard"], 2).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("sv-ch", "standard")).await;
    let id = paired(&mut ch, &mut ag1, "billing").await;
    let (_biz, _) = Client::connect(&url, &agent("sv-biz", &["business"], 2)).await;

    let (mut sup, welcome) = Client::connect(
        &url,
        &supervisor("sv-1", &["standard", "premium", "identity"]),
    )
    .await;
    assert_eq!(welcome["role"], "supervisor");
    sup.send(json!({"type": "watch"})).await;
    let overview = sup.expect("overview").await;
    assert_eq!(overview["sla_s"], 60);
    let tiers: Vec<&str> = overview["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter_map(|q| q["tier"].as_str())
        .collect();
    assert_eq!(tiers, vec!["standard", "premium"], "only supervised tiers");
    assert_eq!(overview["queues"][0]["answered"], 1);
    assert_eq!(overview["queues"][0]["service_level"], 1.0);
    let line = agent_line(&overview, "sv-ag1");
    assert_eq!(
        (
            &line["state"],
            &line["online"],
            &line["chats"],
            &line["max_chats"]
        ),
        (&json!("available"), &json!(true), &json!(1), &json!(2))
    );
    assert_eq!(line["conversations"], json!([id]));
    assert!(
        overview["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .all(|a| a["sub"] != "sv-biz"),
        "a business agent is not in a standard supervisor's overview"
    );
    assert_eq!(overview["desks"], json!([{"desk": "identity", "open": 0}]));
    // The console keeps getting fresh overviews without asking.
    sup.expect("overview").await;

    // Away: the agent's pane is told who did it; the overview says so.
    sup.send(json!({"type": "set_agent_state", "agent": "sv-ag1", "state": "away"}))
        .await;
    let status = ag1.expect("status").await;
    assert_eq!(
        (&status["state"], &status["by"]),
        (&json!("away"), &json!("Supervisor sv-1"))
    );
    let after = sup
        .expect_where("overview", |o| agent_line(o, "sv-ag1")["state"] == "away")
        .await;
    assert_eq!(after["audit"][0]["action"], "set_agent_state");
    assert_eq!(after["audit"][0]["target"], "sv-ag1");
    assert_eq!(after["audit"][0]["by"], "sv-1");

    // Not a supervised team: refused, nothing changes.
    sup.send(json!({"type": "set_agent_state", "agent": "sv-biz", "state": "available"}))
        .await;
    assert_eq!(sup.expect("error").await["code"], "not_allowed");

    // Reassign: the chat leaves its agent for the head of the queue and the
    // next free agent gets it, transcript kept.
    let mut ag2 = available_agent(&url, "sv-ag2", &["standard"], 2).await;
    sup.send(json!({"type": "reassign", "conversation": id}))
        .await;
    let ended = ag1.expect("ended").await;
    assert_eq!(
        (&ended["conversation"], &ended["reason"]),
        (&json!(id), &json!("transferred"))
    );
    let assigned = ag2.expect("assigned").await;
    assert_eq!(assigned["conversation"], id.as_str());
    let note = ch.expect_where("msg", |m| m["from"] == "system").await;
    assert!(
        note["text"]
            .as_str()
            .unwrap_or("")
            .contains("another agent"),
        "{note}"
    );
    let after = sup
        .expect_where("overview", |o| o["audit"][0]["action"] == "reassign")
        .await;
    assert_eq!(after["audit"][0]["target"], id.as_str());
    assert_eq!(after["audit"][1]["action"], "set_agent_state");
    assert!(
        ch.pending()
            .iter()
            .all(|f| f["type"] != "overview" && f["type"] != "status"),
        "the cardholder hears nothing of the supervisor: {:?}",
        ch.pending()
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_supervisor_cannot_reach_chats_of_teams_it_does_not_supervise() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "sv2-ag", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("sv2-ch", "standard")).await;
    let id = paired(&mut ch, &mut ag, "general").await;

    let (mut biz, _) = Client::connect(&url, &supervisor("sv2-biz", &["business"])).await;
    biz.send(json!({"type": "reassign", "conversation": id}))
        .await;
    assert_eq!(biz.expect("error").await["code"], "not_allowed");
    // Moving a standard chat into a queue the supervisor does not oversee is refused too.
    let (mut std_sup, _) = Client::connect(&url, &supervisor("sv2-std", &["standard"])).await;
    std_sup
        .send(json!({"type": "reassign", "conversation": id, "tier": "business"}))
        .await;
    assert_eq!(std_sup.expect("error").await["code"], "not_allowed");
    ag.expect_none("ended", std::time::Duration::from_millis(300))
        .await;
    // Agents cannot use the supervisor's frames.
    ag.send(json!({"type": "set_agent_state", "agent": "sv2-ag", "state": "away"}))
        .await;
    assert_eq!(ag.expect("error").await["code"], "not_allowed");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_supervisor_on_another_node_monitors_a_chat_unseen_by_the_cardholder() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let b = TestHub::spawn(redis_settings(&redis.url(), &prefix)).await;
    let mut ag = available_agent(&a.ws_url(), "mo-ag", &["premium"], 2).await;
    let (mut ch, _) = Client::connect(&a.ws_url(), &cardholder("mo-ch", "premium")).await;
    let id = paired(&mut ch, &mut ag, "dispute").await;
    ch.send(
        json!({"type": "say", "id": "c1", "text": "The charge is from a shop I never visited"}),
    )
    .await;
    ag.expect_where("msg", |m| m["id"] == "c1").await;

    let (mut sup, _) = Client::connect(&b.ws_url(), &supervisor("mo-sup", &["premium"])).await;
    let page = monitor(&mut sup, &id).await;
    assert_eq!(page["conversation"], id.as_str());
    let texts = entry_texts(&page);
    assert!(
        texts.contains(&"The charge is from a shop I never visited"),
        "the transcript so far: {page}"
    );
    assert_eq!(page["more"], false);

    // Live, both ways, from the other node.
    ag.send(
        json!({"type": "say", "conversation": id, "id": "a1", "text": "Let me check that charge"}),
    )
    .await;
    let m = sup.expect_where("msg", |m| m["id"] == "a1").await;
    assert_eq!(
        (&m["from"], &m["conversation"]),
        (&json!("agent"), &json!(id))
    );
    ch.send(json!({"type": "say", "id": "c2", "text": "Thank you"}))
        .await;
    sup.expect_where("msg", |m| m["id"] == "c2").await;
    // Read-only: a supervisor cannot write in the chat.
    sup.send(json!({"type": "say", "conversation": id, "id": "s1", "text": "hello"}))
        .await;
    assert_eq!(sup.expect("error").await["code"], "not_allowed");

    // The end reaches the monitor too; the cardholder never heard of it.
    ag.send(json!({"type": "end", "conversation": id})).await;
    let ended = sup.expect("ended").await;
    assert_eq!(ended["conversation"], id.as_str());
    ch.expect("ended").await;
    assert!(
        ch.pending()
            .iter()
            .all(|f| f.to_string().find("mo-sup").is_none()),
        "nothing about the supervisor reaches the cardholder: {:?}",
        ch.pending()
    );

    // Audited; and a chat of another tier is out of reach.
    sup.send(json!({"type": "watch"})).await;
    let o = sup.expect("overview").await;
    assert_eq!(o["audit"][0]["action"], "monitor");
    assert_eq!(o["audit"][0]["target"], id.as_str());
    let mut ag2 = available_agent(&a.ws_url(), "mo-ag2", &["standard"], 1).await;
    let (mut ch2, _) = Client::connect(&a.ws_url(), &cardholder("mo-ch2", "standard")).await;
    let other = paired(&mut ch2, &mut ag2, "general").await;
    sup.send(json!({"type": "monitor", "conversation": other}))
        .await;
    assert_eq!(sup.expect("error").await["code"], "not_allowed");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn one_of_two_monitoring_connections_leaving_keeps_the_other_monitoring() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "m2-ag", &["premium"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("m2-ch", "premium")).await;
    let id = paired(&mut ch, &mut ag, "billing").await;
    let (mut first, _) = Client::connect(&url, &supervisor("m2-sup", &["premium"])).await;
    let (mut second, _) = Client::connect(&url, &supervisor("m2-sup", &["premium"])).await;
    for sup in [&mut first, &mut second] {
        monitor(sup, &id).await;
    }
    // The same connection asking twice counts once.
    monitor(&mut second, &id).await;

    first
        .send(json!({"type": "unmonitor", "conversation": id}))
        .await;
    first.close().await;
    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Still watched"}))
        .await;
    second.expect_where("msg", |m| m["id"] == "a1").await;

    // Its own unmonitor (once, though it asked twice) stops it. Frames of a
    // connection run in order: the `overview` answer means it was done.
    second
        .send(json!({"type": "unmonitor", "conversation": id}))
        .await;
    second.send(json!({"type": "watch"})).await;
    second.expect("overview").await;
    ag.send(json!({"type": "say", "conversation": id, "id": "a2", "text": "Unwatched"}))
        .await;
    ag.send(json!({"type": "end", "conversation": id})).await;
    ch.expect("ended").await;
    // Anything for it was queued before the cardholder's `ended` went out,
    // so before the answer to a later frame.
    second.send(json!({"type": "queues"})).await;
    second.expect("queues").await;
    assert!(
        second
            .pending()
            .iter()
            .all(|f| f["id"] != "a2" && f["type"] != "ended"),
        "{:?}",
        second.pending()
    );
    hub.shutdown().await;
}

/// SPEC "Agent desk, supervisors": a monitored chat that leaves the
/// supervisor's teams stops being monitored in the same step. The
/// supervisor hears `monitor_ended` (`out_of_scope`) and then nothing more
/// of the chat while its new agent and the cardholder keep talking.
#[tokio::test]
async fn a_chat_transferred_out_of_the_supervisors_teams_is_no_longer_monitored() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut ag, mut ch, id, mut sup) = monitored_chat(&url, "os", "standard", 1).await;
    ag.send(json!({"type": "say", "conversation": id, "id": "a1", "text": "Let me move you"}))
        .await;
    sup.expect_where("msg", |m| m["id"] == "a1").await;

    ag.send(json!({"type": "transfer", "conversation": id, "tier": "business"}))
        .await;
    assert_eq!(ag.expect("ended").await["reason"], "transferred");
    let ended = sup.expect("monitor_ended").await;
    assert_eq!(
        (&ended["conversation"], &ended["reason"]),
        (&json!(id), &json!("out_of_scope"))
    );

    // The business specialist and the cardholder go on, with a note.
    let mut biz = available_agent(&url, "os-biz", &["business"], 1).await;
    assert_eq!(biz.expect("assigned").await["conversation"], id.as_str());
    biz.send(json!({"type": "say", "conversation": id, "id": "b1", "text": "Business desk here"}))
        .await;
    biz.send(json!({"type": "note", "conversation": id, "text": "Corporate card, limit 50k"}))
        .await;
    ch.send(json!({"type": "say", "id": "c1", "text": "My company card was declined"}))
        .await;
    biz.expect_where("msg", |m| m["id"] == "c1").await;
    biz.expect("note").await;
    sup.expect_none("msg", std::time::Duration::from_millis(500))
        .await;
    sup.expect_none("note", std::time::Duration::from_millis(100))
        .await;
    // Nor can it read on by asking: `sync` and `monitor` are refused.
    sup.send(json!({"type": "sync", "conversation": id, "after": 0}))
        .await;
    assert_eq!(sup.expect("error").await["code"], "not_allowed");
    sup.send(json!({"type": "monitor", "conversation": id}))
        .await;
    assert_eq!(sup.expect("error").await["code"], "not_allowed");
    assert!(
        sup.pending().iter().all(|f| f["type"] != "transcript"),
        "{:?}",
        sup.pending()
    );
    hub.shutdown().await;
}

/// A supervisor's own `unmonitor` and the chat's end each end the monitor
/// with a `monitor_ended` that says why.
#[tokio::test]
async fn monitor_ended_says_unmonitored_or_ended() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut ag, _ch, id, mut sup) = monitored_chat(&url, "me", "premium", 2).await;
    sup.send(json!({"type": "unmonitor", "conversation": id}))
        .await;
    let stopped = sup.expect("monitor_ended").await;
    assert_eq!(
        (&stopped["conversation"], &stopped["reason"]),
        (&json!(id), &json!("unmonitored"))
    );
    monitor(&mut sup, &id).await;
    ag.send(json!({"type": "end", "conversation": id})).await;
    sup.expect("ended").await;
    let over = sup.expect("monitor_ended").await;
    assert_eq!(over["reason"], "ended");
    hub.shutdown().await;
}

/// A supervisor who stops monitoring a chat and monitors it again on the
/// same connection gets what was said in between in the new transcript page.
#[tokio::test]
async fn monitoring_again_brings_what_was_said_meanwhile() {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let url = hub.ws_url();
    let (mut ag, mut ch, id, mut sup) = monitored_chat(&url, "ma", "premium", 2).await;
    ch.send(json!({"type": "say", "id": "m1", "text": "First question"}))
        .await;
    assert_eq!(sup.expect("msg").await["text"], "First question");
    sup.send(json!({"type": "unmonitor", "conversation": id}))
        .await;
    sup.expect("monitor_ended").await;
    ch.send(json!({"type": "say", "id": "m2", "text": "Second question"}))
        .await;
    ag.expect("msg").await;
    ag.expect("msg").await;
    let page = monitor(&mut sup, &id).await;
    let texts = entry_texts(&page);
    assert!(
        texts.contains(&"Second question"),
        "what was said while not monitoring is in the page: {texts:?}"
    );
    hub.shutdown().await;
}

/// SPEC: a supervisor reaches only the audit entries of its teams.
async fn audit_is_scoped(settings: switchboard::settings::Settings) {
    let hub = TestHub::spawn(settings).await;
    let url = hub.ws_url();
    let mut ag = available_agent(&url, "au-ag", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&url, &cardholder("au-ch", "standard")).await;
    let id = paired(&mut ch, &mut ag, "billing").await;
    let _std_ag = available_agent(&url, "au-std-ag", &["standard"], 1).await;
    let _prem_ag = available_agent(&url, "au-prem-ag", &["premium"], 1).await;

    let (mut std_sup, _) = Client::connect(&url, &supervisor("au-std", &["standard"])).await;
    let (mut prem_sup, _) = Client::connect(&url, &supervisor("au-prem", &["premium"])).await;
    std_sup
        .send(json!({"type": "set_agent_state", "agent": "au-std-ag", "state": "away"}))
        .await;
    std_sup.expect("overview").await;
    monitor(&mut std_sup, &id).await;
    prem_sup
        .send(json!({"type": "set_agent_state", "agent": "au-prem-ag", "state": "away"}))
        .await;
    prem_sup.expect("overview").await;

    let by = |o: &Value| -> Vec<(String, String)> {
        o["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .map(|e| {
                (
                    e["by"].as_str().unwrap_or("").to_owned(),
                    e["action"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    prem_sup.send(json!({"type": "watch"})).await;
    let seen = by(&prem_sup.expect("overview").await);
    assert_eq!(
        seen,
        vec![("au-prem".to_owned(), "set_agent_state".to_owned())],
        "the premium supervisor sees only premium's entries"
    );
    std_sup.send(json!({"type": "watch"})).await;
    let seen = by(&std_sup.expect("overview").await);
    assert_eq!(
        seen,
        vec![
            ("au-std".to_owned(), "monitor".to_owned()),
            ("au-std".to_owned(), "set_agent_state".to_owned())
        ],
        "the standard supervisor sees only standard's entries"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_supervisor_sees_only_the_audit_entries_of_its_teams_redis() {
    let redis = RedisServer::start();
    audit_is_scoped(redis_settings(&redis.url(), &unique_prefix())).await;
}

#[tokio::test]
async fn a_supervisor_sees_only_the_audit_entries_of_its_teams_memory() {
    audit_is_scoped(memory_settings()).await;
}
