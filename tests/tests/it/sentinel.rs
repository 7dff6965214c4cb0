//! Redis Sentinel: a real primary, a replica and three Sentinels started by
//! the test; the primary is killed, the Sentinels promote the replica, and
//! the hub follows it by itself: the chat continues and nothing that was
//! acknowledged (and replicated) is lost. And `--redis-wait-replicas`: a
//! message is acknowledged only once the replica holds it.

use std::process::{Child, Command, Stdio};

use serde_json::json;
use switchboard_tests::*;

const MASTER: &str = "chat-primary";

/// redis-server processes the test started (a replica, Sentinels), killed
/// on drop, and the folder of their configuration files.
struct Processes {
    children: Vec<(u16, Child)>,
    dir: std::path::PathBuf,
}

impl Processes {
    fn new() -> Processes {
        Processes {
            children: Vec::new(),
            dir: temp_dir("sentinel"),
        }
    }

    fn spawn(&mut self, port: u16, args: &[&str]) {
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH");
        self.children.push((port, child));
    }

    /// Sends a signal (`STOP`, `CONT`) to the server on `port`: a stopped
    /// replica neither reads the replication stream nor acknowledges it.
    fn signal(&self, port: u16, signal: &str) {
        let (_, child) = self
            .children
            .iter()
            .find(|(p, _)| *p == port)
            .expect("a process the test started");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// A replica of the Redis on `primary`; returns its port.
    fn replica(&mut self, primary: u16) -> u16 {
        let port = free_port();
        // Its copy of the primary's data goes to the temp folder, not the
        // work tree.
        let dir = self.dir.to_string_lossy().into_owned();
        self.spawn(
            port,
            &[
                "--dir",
                &dir,
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--replicaof",
                "127.0.0.1",
                &primary.to_string(),
            ],
        );
        port
    }

    /// A Sentinel watching the Redis on `primary` (quick to decide: the
    /// primary is down after 500 ms of silence); returns its port.
    fn sentinel(&mut self, primary: u16) -> u16 {
        let port = free_port();
        let conf = self.dir.join(format!("sentinel-{port}.conf"));
        let dir = self.dir.display();
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER} 500\n\
                 sentinel failover-timeout {MASTER} 3000\n\
                 sentinel parallel-syncs {MASTER} 1\n"
            ),
        )
        .expect("sentinel.conf");
        let path = conf.to_string_lossy().into_owned();
        self.spawn(port, &[&path, "--sentinel"]);
        port
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn info_field(port: u16, field: &str) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO").query_async(&mut conn).await.ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

async fn sentinel_query(port: u16, args: &[&str]) -> Option<redis::Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let mut cmd = redis::cmd("SENTINEL");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await.ok()
}

/// The port of the primary this Sentinel names.
async fn named_primary(sentinel: u16) -> Option<u16> {
    match sentinel_query(sentinel, &["get-master-addr-by-name", MASTER]).await? {
        redis::Value::Array(parts) => match parts.get(1)? {
            redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// How many replicas (or other Sentinels) this Sentinel knows of.
async fn known(sentinel: u16, what: &str) -> usize {
    match sentinel_query(sentinel, &[what, MASTER]).await {
        Some(redis::Value::Array(list)) => list.len(),
        _ => 0,
    }
}

#[tokio::test]
async fn the_hub_follows_a_sentinel_failover_and_the_chat_continues() {
    let mut primary = RedisServer::start();
    let mut procs = Processes::new();
    let replica = procs.replica(primary.port);
    eventually("the replica is in sync", || async {
        info_field(replica, "master_link_status").await.as_deref() == Some("up")
    })
    .await;
    let sentinels: Vec<u16> = (0..3).map(|_| procs.sentinel(primary.port)).collect();
    for &s in &sentinels {
        eventually(
            "each Sentinel knows the replica and the other two",
            || async { known(s, "replicas").await == 1 && known(s, "sentinels").await == 2 },
        )
        .await;
    }

    let list: Vec<String> = sentinels.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut settings = redis_settings(
        &format!("redis+sentinel://{}/{MASTER}", list.join(",")),
        &unique_prefix(),
    );
    settings.node_timeout = std::time::Duration::from_secs(15);
    let hub = TestHub::spawn(settings).await;
    let mut ag = available_agent(&hub.ws_url(), "sn-ag", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("sn-1", "standard")).await;
    let conversation = paired(&mut ch, &mut ag, "general").await;
    for n in 1..=3 {
        ch.say_confirmed(
            json!({"type": "say", "id": format!("before-{n}"), "text": format!("before {n}")}),
        )
        .await;
    }
    // What was acknowledged has reached the replica (replication is in
    // order: a write made after it, confirmed by WAIT, follows it there).
    let mut probe = redis_conn(&primary.url()).await;
    redis::cmd("SET")
        .arg("probe")
        .arg(1)
        .query_async::<()>(&mut probe)
        .await
        .expect("SET");
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5_000)
        .query_async(&mut probe)
        .await
        .expect("WAIT");
    assert_eq!(acked, 1, "the replica holds everything acknowledged");

    primary.stop();
    for &s in &sentinels {
        eventually("the Sentinels name the replica as primary", || async {
            named_primary(s).await == Some(replica)
        })
        .await;
    }
    // The node lost its event subscription with the old primary: its
    // clients are asked to reconnect and sync; it is ready again on the new
    // primary.
    assert_eq!(ch.expect_close().await, Closed::Code(1012));
    eventually("the hub is ready on the new primary", || async {
        http_get(&hub.http_url("/readyz")).await.0 == 200
    })
    .await;
    let (mut ag, _) = Client::connect(&hub.ws_url(), &agent("sn-ag", &["standard"], 1)).await;
    let (mut ch, welcome) = Client::connect(&hub.ws_url(), &cardholder("sn-1", "standard")).await;
    assert_eq!(welcome["conversation"]["id"], conversation.as_str());
    ch.say_confirmed(json!({"type": "say", "id": "after-1", "text": "after the failover"}))
        .await;
    ag.expect_where("msg", |f| f["id"] == "after-1").await;

    let (mut reader, _) = Client::connect(&hub.ws_url(), &cardholder("sn-1", "standard")).await;
    reader.send(json!({"type": "sync", "after": 0})).await;
    let page = reader.expect("transcript").await;
    let entries = page["entries"].as_array().expect("entries");
    let ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["before-1", "before-2", "before-3", "after-1"],
        "{page}"
    );
    let seqs: Vec<u64> = entries.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gap: {page}"
    );
}

/// The stored transcript entries' ids on the Redis at `port`.
async fn stored_ids(port: u16, prefix: &str, conversation: &str) -> Vec<String> {
    let mut conn = redis_conn(&format!("redis://127.0.0.1:{port}")).await;
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("{prefix}:tx:{conversation}"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("LRANGE");
    entries
        .iter()
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn with_wait_replicas_a_message_is_acknowledged_only_once_the_replica_holds_it() {
    let primary = RedisServer::start();
    let mut procs = Processes::new();
    let replica = procs.replica(primary.port);
    eventually("the replica is in sync", || async {
        info_field(replica, "master_link_status").await.as_deref() == Some("up")
    })
    .await;
    let prefix = unique_prefix();
    let mut settings = redis_settings(&primary.url(), &prefix);
    if let switchboard::settings::Engine::Redis { wait_replicas, .. } = &mut settings.engine {
        *wait_replicas = 1;
    }
    let hub = TestHub::spawn(settings).await;
    let mut ag = available_agent(&hub.ws_url(), "wr-ag", &["standard"], 1).await;
    let (mut ch, _) = Client::connect(&hub.ws_url(), &cardholder("wr-1", "standard")).await;
    let conversation = paired(&mut ch, &mut ag, "general").await;

    // Acknowledged means on the replica already, with nothing else awaited.
    let first = ch
        .say_confirmed(json!({"type": "say", "id": "w-1", "text": "first"}))
        .await;
    assert!(
        stored_ids(replica, &prefix, &conversation)
            .await
            .contains(&"w-1".to_owned()),
        "the replica holds the acknowledged message"
    );
    ag.expect_where("msg", |f| f["id"] == "w-1").await;

    // The replica stops: the message is stored on the primary but neither
    // acknowledged nor delivered; the sender hears `unavailable`.
    procs.signal(replica, "STOP");
    ch.send(json!({"type": "say", "id": "w-2", "text": "second"}))
        .await;
    let refused = ch.expect("error").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert_eq!(refused["ref"], "w-2", "{refused}");
    ag.expect_none("msg", std::time::Duration::from_millis(300))
        .await;
    assert!(ch.take_pending("msg").is_empty(), "no acknowledgement");
    // Nor does a replay show it.
    let (mut reader, _) = Client::connect(&hub.ws_url(), &cardholder("wr-1", "standard")).await;
    reader.send(json!({"type": "sync", "after": 0})).await;
    let page = reader.expect("transcript").await;
    assert!(
        !page.to_string().contains("w-2"),
        "a held message is not replayed: {page}"
    );

    // Back: the resend (same id) is stored once, acknowledged and delivered
    // once, right after the first.
    procs.signal(replica, "CONT");
    let second = ch
        .say_confirmed(json!({"type": "say", "id": "w-2", "text": "second"}))
        .await;
    assert_eq!(second["seq"], first["seq"].as_u64().expect("seq") + 1);
    let delivered = ag.expect_where("msg", |f| f["id"] == "w-2").await;
    assert_eq!(delivered["seq"], second["seq"]);
    ag.expect_none("msg", std::time::Duration::from_millis(300))
        .await;
    assert!(stored_ids(replica, &prefix, &conversation)
        .await
        .contains(&"w-2".to_owned()));
    assert!(metric(&hub, "switchboard_replica_wait_failures_total", &[]).await >= 1.0);
}
