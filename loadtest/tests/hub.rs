//! The tool in small configurations against a real hub served in-process,
//! on the memory engine and on a throwaway redis-server: every scenario
//! comes out with nothing lost, duplicated or reordered.

use std::time::Duration;

use switchboard_loadtest::config::{Scenario, Target};
use switchboard_loadtest::{run, Config, Report};
use switchboard_tests::{
    memory_settings, redis_settings, unique_prefix, RedisServer, TestHub, SECRET,
};

fn against(hub: &TestHub, scenario: Scenario) -> Config {
    let mut c = Config::small_baseline();
    c.baseline = false;
    c.scenario = scenario;
    c.targets = vec![Target::parse(&hub.ws_url()).expect("loopback url")];
    c.jwt_secret = Some(String::from_utf8(SECRET.to_vec()).expect("utf-8 secret"));
    c
}

async fn clean(config: Config) -> Report {
    let report = run(config).await.expect("run");
    assert!(!report.failed(), "{}", report.table());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_on_memory_engine_loses_nothing() {
    let hub = TestHub::spawn(memory_settings()).await;
    let r = clean(against(&hub, Scenario::Steady)).await;
    assert!(r.conversations_completed > 0, "{}", r.table());
    assert_eq!(r.messages, r.messages_sent);
}

/// Runs steady, burst and reconnect against a hub on a throwaway Redis.
async fn redis_runs() -> Vec<Report> {
    let redis = RedisServer::start();
    let hub = TestHub::spawn(redis_settings(&redis.url(), &unique_prefix())).await;
    let steady = run(against(&hub, Scenario::Steady)).await.expect("run");
    let mut c = against(&hub, Scenario::Burst);
    // Enough standard-tier slots that nobody is still queued when time is up.
    c.agents = 8;
    c.duration = Duration::from_secs(4);
    let burst = run(c).await.expect("run");
    let mut c = against(&hub, Scenario::Reconnect);
    c.reconnect_pct = 50.0;
    c.messages = 6;
    c.duration = Duration::from_secs(3);
    let reconnect = run(c).await.expect("run");
    assert!(steady.conversations_completed > 0, "{}", steady.table());
    assert_eq!(burst.conversations_completed, 10, "{}", burst.table());
    assert!(reconnect.reconnects > 0, "{}", reconnect.table());
    vec![steady, burst, reconnect]
}

/// Nothing lost, no double assignment, no agent over its limit, no error.
/// (Order and duplicates are checked by the strict test below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_runs_are_exactly_once_in_order() {
    for r in redis_runs().await {
        assert!(!r.failed(), "{}", r.table());
        assert_eq!(r.lost + r.duplicated + r.reordered, 0, "{}", r.table());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reads_hub_memory_per_connection() {
    let hub = TestHub::spawn(memory_settings()).await;
    let mut c = against(&hub, Scenario::Idle);
    c.duration = Duration::from_secs(3);
    let r = clean(c).await;
    let idle = r.idle.expect("idle figures");
    assert_eq!(idle.connections, 14);
    assert!(idle.rss_after_bytes > 0);
}
