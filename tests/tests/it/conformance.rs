//! Runs the store conformance suite on both engines: one test per check and
//! engine, so the first failure does not hide the others.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use switchboard::domain::{ConversationId, Millis};
use switchboard::events::Envelope;
use switchboard::store::feed::EventFeed;
use switchboard::store::memory::MemoryStore;
use switchboard::store::redis::RedisStore;
use switchboard::store::{Notifying, Store, DEFAULT_HOT_RETENTION_MS};
use switchboard_tests::{conformance, unique_prefix, RedisServer};

async fn redis_store(redis: &RedisServer, retention: Millis) -> RedisStore {
    RedisStore::connect(
        &redis.url(),
        &unique_prefix(),
        "node-conformance",
        retention,
    )
    .await
    .expect("connect")
}

/// One test per check and engine; engines built with `$retention` and,
/// when given, `.notifying($notifying)`.
macro_rules! conformance {
    ($memory:ident, $redis:ident, $retention:expr; $($check:ident),* $(,)?) => {
        conformance!($memory, $redis, $retention, None; $($check),*);
    };
    ($memory:ident, $redis:ident, $retention:expr, $notifying:expr; $($check:ident),* $(,)?) => {
        mod $memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let store = MemoryStore::new().retaining($retention);
                    let notifying: Option<Notifying> = $notifying;
                    let store = match notifying {
                        Some(n) => store.notifying(n),
                        None => store,
                    };
                    conformance::$check(&store).await;
                }
            )*
        }
        mod $redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let redis = RedisServer::start();
                    let store = redis_store(&redis, $retention).await;
                    let notifying: Option<Notifying> = $notifying;
                    let store = match notifying {
                        Some(n) => store.notifying(n),
                        None => store,
                    };
                    conformance::$check(&store).await;
                }
            )*
        }
    };
}

conformance!(
    memory,
    redis,
    DEFAULT_HOT_RETENTION_MS;
    fifo_within_tier,
    premium_boost_and_aging,
    business_isolation,
    capacity_and_least_loaded,
    idle_longest_breaks_ties,
    positions_after_leave,
    gapless_seq_and_idempotent_append,
    open_is_idempotent,
    transfer_goes_to_head,
    cardholder_grace,
    agent_grace_requeues_at_head,
    returning_chats_keep_their_original_order,
    ending_a_chat_ends_its_grace_period,
    liveness_and_waiting_figures,
    sender_must_belong,
    callbacks_one_open_per_desk_premium_first,
    callback_claims_and_outcomes,
    crafted_subs_stay_apart,
    several_redactions_apply_in_one_step,
    a_changed_entry_to_redact_is_a_conflict,
    recent_entries_are_the_authors_within_the_window,
    ended_conversations_keep_when_and_why,
    overview_and_audit,
    disconnected_cardholders_are_served_after_connected_ones,
    agents_online_and_queue_entry_times,
    a_thread_waits_in_its_inbox_not_in_the_live_queue,
    at_most_five_open_threads,
    a_resent_thread_start_opens_it_once,
    inbox_serves_the_earliest_reply_due_first,
    resolve_then_a_reply_reopens_with_the_transcript,
    business_threads_only_reach_business_agents,
    read_marks_stay_with_the_cardholder,
    ratings_are_kept_once,
    notes_stay_with_staff,
);

// Checks of the notification queue (`--notify-url`).
conformance!(
    memory_notifying,
    redis_notifying,
    DEFAULT_HOT_RETENTION_MS,
    Some(Notifying { pending_ms: 86_400_000 });
    notifications_queue_lease_and_settle,
);

// Checks that need ended things to expire while they run.
conformance!(
    memory_short_retention,
    redis_short_retention,
    conformance::SHORT_RETENTION_MS;
    ended_conversations_and_closed_requests_expire,
    resolved_threads_expire_unless_reopened,
);

// Checks of the transcript bounds, on engines built with small ones.
macro_rules! bounded {
    ($($check:ident),* $(,)?) => {
        mod memory_bounded {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let store = MemoryStore::new().bounding(conformance::SMALL_BOUNDS);
                    conformance::$check(&store).await;
                }
            )*
        }
        mod redis_bounded {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let redis = RedisServer::start();
                    let store = redis_store(&redis, DEFAULT_HOT_RETENTION_MS)
                        .await
                        .bounding(conformance::SMALL_BOUNDS);
                    conformance::$check(&store).await;
                }
            )*
        }
    };
}

bounded!(
    a_full_transcript_refuses_typed_entries,
    the_byte_bound_counts_typed_text,
);

// Checks that race several calls at once: each takes its engine shared.
macro_rules! raced {
    ($($check:ident),* $(,)?) => {
        mod memory_raced {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    conformance::$check(Arc::new(MemoryStore::new())).await;
                }
            )*
        }
        mod redis_raced {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let redis = RedisServer::start();
                    let store = redis_store(&redis, DEFAULT_HOT_RETENTION_MS).await;
                    conformance::$check(Arc::new(store)).await;
                }
            )*
        }
    };
}

raced!(
    concurrent_claims_have_one_winner,
    thread_claims_have_one_winner,
);

/// An envelope with what differs between runs (ids, refs, publish time)
/// replaced by stable names, and its audiences sorted.
fn normalised(e: &Envelope, ids: &[switchboard::domain::ConversationId]) -> String {
    let mut to = e.to.clone();
    to.sort();
    let mut text = format!("{to:?} {:?}", e.event);
    for (i, id) in ids.iter().enumerate() {
        text = text.replace(id.as_str(), &format!("conv{i}"));
    }
    // Callback references are random: keep their desk prefix only.
    without_ref_numbers(&text)
}

fn without_ref_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("CallbackRef(\"") {
        let (head, tail) = rest.split_at(i + "CallbackRef(\"".len());
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        out.push_str(&tail[..end.min(2)]);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A conversation scenario run on a store: the ids to normalise.
type Scenario = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, Vec<ConversationId>>;

fn chat_scenario(s: &dyn Store) -> BoxFuture<'_, Vec<ConversationId>> {
    Box::pin(conformance::scenario_for_events(s))
}

fn thread_scenario(s: &dyn Store) -> BoxFuture<'_, Vec<ConversationId>> {
    Box::pin(conformance::thread_scenario_for_events(s))
}

/// What each engine announced for the same steps, normalised: (memory, Redis).
async fn announced_by_both(scenario: Scenario) -> (Vec<String>, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let memory = MemoryStore::with_announcer(Arc::new(move |e: Envelope| {
        sink.lock().expect("lock").push(e);
    }));
    let ids = scenario(&memory).await;
    let from_memory: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|e| normalised(e, &ids))
        .collect();

    let redis = RedisServer::start();
    let store = redis_store(&redis, DEFAULT_HOT_RETENTION_MS).await;
    let mut events = store.subscribe().await.expect("subscribe");
    // The scripts announce only to nodes holding a recipient: this node.
    let ids = scenario(&store).await;
    let mut from_redis = Vec::new();
    while from_redis.len() < from_memory.len() {
        use futures_util::StreamExt;
        // Short of events: the comparison below shows which.
        let Ok(next) = tokio::time::timeout(switchboard_tests::EVENT_TIMEOUT, events.next()).await
        else {
            break;
        };
        from_redis.push(normalised(&next.expect("the subscription stays up"), &ids));
    }
    (from_memory, from_redis)
}

#[tokio::test]
async fn both_engines_announce_the_same_thread_events() {
    let (from_memory, from_redis) = announced_by_both(thread_scenario).await;
    let kinds: Vec<&str> = from_memory
        .iter()
        .map(|e| {
            ["Assigned", "Msg", "Ended"]
                .into_iter()
                .find(|k| e.contains(&format!("] {k} ")))
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["Msg", "Assigned", "Msg", "Ended", "Msg"],
        "{from_memory:#?}"
    );
    assert_eq!(from_memory, from_redis);
}

#[tokio::test]
async fn both_engines_announce_the_same_events() {
    let (from_memory, from_redis) = announced_by_both(chat_scenario).await;
    assert!(from_memory.len() >= 8, "{from_memory:#?}");
    let presence: Vec<&str> = from_memory
        .iter()
        .filter(|e| e.contains("Presence"))
        .map(|e| {
            ["Online", "Away", "Gone"]
                .into_iter()
                .find(|p| e.contains(p))
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        presence,
        vec!["Away", "Gone", "Online"],
        "the agent hears the cardholder drop, stay away, come back: {from_memory:#?}"
    );
    assert!(from_memory
        .iter()
        .filter(|e| e.contains("Presence"))
        .all(|e| e.starts_with("[Agent(UserId(\"bob\"))]")));
    let to_monitor: Vec<&String> = from_memory
        .iter()
        .filter(|e| e.contains("Supervisor(UserId(\"sue\"))"))
        .collect();
    assert!(
        to_monitor.iter().any(|e| e.contains("Msg"))
            && to_monitor.iter().any(|e| e.contains("Redact"))
            && to_monitor.iter().any(|e| e.contains("Ended")),
        "the monitoring supervisor hears entries, redactions and the end: {from_memory:#?}"
    );
    let notes: Vec<&String> = from_memory
        .iter()
        .filter(|e| e.contains(" Note {"))
        .collect();
    assert_eq!(notes.len(), 1, "{from_memory:#?}");
    assert!(
        notes[0].starts_with("[Agent(UserId(\"bob\")), Supervisor(UserId(\"sue\"))]"),
        "a note reaches the agent and the monitor, never the cardholder: {notes:?}"
    );
    // A card over three messages: both redactions, in seq order, right
    // before the entry that completed it.
    let at = from_memory
        .iter()
        .position(|e| e.contains("Redact"))
        .expect("a redaction");
    let order: Vec<bool> = [
        ("Redact", "seq: 2"),
        ("Redact", "seq: 3"),
        ("Msg", "seq: 4"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (kind, seq))| {
        from_memory
            .get(at + i)
            .is_some_and(|e| e.contains(kind) && e.contains(seq))
    })
    .collect();
    assert_eq!(order, [true; 3], "{from_memory:#?}");
    assert_eq!(from_memory, from_redis);
}

#[tokio::test]
async fn memory_concurrent_appends_are_gapless_and_once() {
    conformance::concurrent_appends_are_gapless_and_once(Arc::new(MemoryStore::new())).await;
}

/// On Redis the appends go in batches: besides what the conformance check
/// asks, each conversation's `msg` events reach the node once each, in seq
/// order, with the text stored at that seq.
#[tokio::test]
async fn redis_concurrent_appends_are_gapless_once_and_announced_in_order() {
    use futures_util::StreamExt;
    use switchboard::events::Event;
    let redis = RedisServer::start();
    let store = Arc::new(redis_store(&redis, DEFAULT_HOT_RETENTION_MS).await);
    let mut events = store.subscribe().await.expect("subscribe");
    let stored = conformance::concurrent_appends_are_gapless_and_once(store.clone()).await;
    let mut heard: std::collections::HashMap<ConversationId, Vec<(u64, String)>> =
        Default::default();
    let expected: usize = stored.iter().map(|(_, texts)| texts.len()).sum();
    let mut msgs = 0;
    while msgs < expected {
        let next = tokio::time::timeout(switchboard_tests::EVENT_TIMEOUT, events.next())
            .await
            .expect("an event within the timeout")
            .expect("the subscription stays up");
        if let Event::Msg {
            conversation,
            entry,
        } = next.event
        {
            heard
                .entry(conversation)
                .or_default()
                .push((entry.seq, entry.text));
            msgs += 1;
        }
    }
    for (id, texts) in stored {
        let want: Vec<(u64, String)> = (1..).zip(texts).collect();
        assert_eq!(heard.remove(&id).unwrap_or_default(), want, "{id}");
    }
}

fn monitor_scope_scenario(s: &dyn Store) -> BoxFuture<'_, Vec<ConversationId>> {
    Box::pin(conformance::monitor_scope_scenario(s))
}

/// What one supervisor heard about one conversation, in order, each as
/// `Msg <text>`, `Note`, `Ended <reason>` or `MonitorEnded <reason>`.
fn heard(events: &[String], sup: &str, conv: &str) -> Vec<String> {
    let to = format!("Supervisor(UserId(\"{sup}\"))");
    let about = format!("ConversationId(\"{conv}\")");
    events
        .iter()
        .filter(|e| e.split("] ").next().is_some_and(|t| t.contains(&to)) && e.contains(&about))
        .map(|e| {
            let event = e.split("] ").nth(1).unwrap_or("");
            let kind = event.split(' ').next().unwrap_or("?");
            let detail = match kind {
                "Msg" => event
                    .split("text: \"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .unwrap_or("?"),
                "Ended" | "MonitorEnded" => event
                    .split("reason: ")
                    .nth(1)
                    .and_then(|t| t.split(' ').next())
                    .unwrap_or("?"),
                _ => "",
            };
            format!("{kind} {detail}").trim_end().to_owned()
        })
        .collect()
}

/// SPEC "Agent desk, supervisors": a monitored chat that leaves the
/// supervisor's teams stops being monitored in the same step, told by
/// `monitor_ended` before anything else that step announces; a move within
/// them keeps it. Both engines, the same events.
#[tokio::test]
async fn both_engines_end_a_monitor_that_leaves_the_supervisors_teams() {
    let (from_memory, from_redis) = announced_by_both(monitor_scope_scenario).await;
    assert_eq!(
        heard(&from_memory, "sue", "conv0"),
        vec!["Msg still standard", "MonitorEnded OutOfScope"],
        "{from_memory:#?}"
    );
    assert_eq!(
        heard(&from_memory, "ray", "conv0"),
        vec![
            "Msg still standard",
            "Msg business here",
            "Note",
            "MonitorEnded OutOfScope"
        ],
        "{from_memory:#?}"
    );
    assert!(heard(&from_memory, "ida", "conv0").is_empty());
    assert_eq!(
        heard(&from_memory, "ida", "conv1"),
        vec![
            "Msg We will call you.",
            "Ended Escalated",
            "MonitorEnded Ended"
        ],
        "{from_memory:#?}"
    );
    assert_eq!(
        heard(&from_memory, "sue", "conv2"),
        vec!["Ended CardholderLeft", "MonitorEnded Ended"],
        "{from_memory:#?}"
    );
    assert!(heard(&from_memory, "ray", "conv2").is_empty(), "it stopped");
    // Each `monitor_ended` is the first thing its step announced.
    let at = |needle: &str| {
        from_memory
            .iter()
            .position(|e| e.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {from_memory:#?}"))
    };
    let sue_out = at("[Supervisor(UserId(\"sue\"))] MonitorEnded");
    assert!(
        from_memory[sue_out + 1]
            .contains("Ended { conversation: ConversationId(\"conv0\"), reason: Transferred"),
        "{from_memory:#?}"
    );
    let ray_out = at("[Supervisor(UserId(\"ray\"))] MonitorEnded");
    assert!(
        from_memory[ray_out + 1].contains("The fraud team will call you."),
        "{from_memory:#?}"
    );
    assert_eq!(from_memory, from_redis);
}
