//! End-to-end runs of the tool against its own in-process bare stack: every
//! scenario comes out clean, and deliberately injected faults are caught.

use std::time::Duration;

use switchboard_loadtest::baseline::Sabotage;
use switchboard_loadtest::config::Scenario;
use switchboard_loadtest::{run, run_baseline, Config};

fn small(scenario: Scenario) -> Config {
    let mut c = Config::small_baseline();
    c.scenario = scenario;
    c
}

async fn clean(config: Config) -> switchboard_loadtest::Report {
    let report = run(config).await.expect("run");
    assert!(!report.failed(), "{}", report.table());
    assert!(report.connections > 0);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_is_clean_and_relays_everything() {
    let mut c = small(Scenario::Steady);
    c.escalations_pct = 20.0;
    let r = clean(c).await;
    assert!(r.messages > 0);
    assert_eq!(r.messages, r.messages_sent);
    assert!(r.conversations_escalated > 0);
    assert!(r.latency_ms.message.count > 0);
    assert!(r.throughput_msgs_per_s > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_reports_drain_time() {
    let mut c = small(Scenario::Burst);
    // Enough standard-tier slots that nobody is still queued when time is up.
    c.agents = 8;
    c.duration = Duration::from_secs(4);
    let r = clean(c).await;
    assert_eq!(r.conversations, 10);
    assert_eq!(r.conversations_completed, 10);
    assert!(r.drain_s.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_resumes_without_loss() {
    let mut c = small(Scenario::Reconnect);
    c.reconnect_pct = 50.0;
    c.messages = 6;
    let r = clean(c).await;
    assert!(r.reconnects > 0, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_measures_memory_per_connection() {
    let mut c = small(Scenario::Idle);
    c.duration = Duration::from_secs(3);
    let r = clean(c).await;
    let idle = r.idle.expect("idle figures");
    assert_eq!(idle.connections, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_message_is_counted_lost() {
    let sabotage = Sabotage {
        drop_nth: Some(3),
        ..Sabotage::default()
    };
    let r = run_baseline(&small(Scenario::Steady), sabotage)
        .await
        .expect("run");
    assert_eq!(r.lost, 1, "{}", r.table());
    assert_eq!(r.duplicated, 0);
    assert!(r.failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_message_is_counted() {
    let sabotage = Sabotage {
        duplicate_nth: Some(2),
        ..Sabotage::default()
    };
    let r = run_baseline(&small(Scenario::Steady), sabotage)
        .await
        .expect("run");
    assert_eq!(r.duplicated, 1, "{}", r.table());
    assert_eq!(r.lost, 0);
    assert!(r.failed());
}
